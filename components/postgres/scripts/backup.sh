#!/usr/bin/env bash
# Dump every database of DATABASES ("db:owner …", the same list reconcile.sh uses) with pg_dump's
# custom format into BACKUP_DIR/<db>/<db>-<UTC timestamp>.dump. Each dump is written to a
# .partial file and renamed only when pg_dump succeeded, so a failed run never leaves a file
# that looks complete. In the cluster a second container uploads BACKUP_DIR to the backups
# bucket, whose lifecycle rule deletes dumps older than the retention.
#
# Environment: PGHOST, PGPORT, PGUSER, PGPASSWORD (a role that can read every listed database),
# DATABASES, BACKUP_DIR, optional BACKUP_STAMP (default: now, UTC, e.g. 20261121T020000Z).
# Names are checked (scripts/names.sh) before anything is dumped: a name such as "../x" would
# write outside BACKUP_DIR and "dbname=..." would be read by pg_dump as a connection string.
set -euo pipefail
# shellcheck source=names.sh
source "$(dirname "${BASH_SOURCE[0]}")/names.sh"
: "${DATABASES:?DATABASES is not set: expected space-separated database:owner pairs}"
: "${BACKUP_DIR:?BACKUP_DIR is not set: the directory the dumps are written to}"
stamp="${BACKUP_STAMP:-$(date -u +%Y%m%dT%H%M%SZ)}"
[[ "$stamp" =~ ^[0-9]{8}T[0-9]{6}Z$ ]] || { echo "refused: BACKUP_STAMP $(pg_show_name "$stamp") is not a UTC stamp such as 20261121T020000Z; nothing was dumped" >&2; exit 1; }
pg_split_entries "$DATABASES"
declare -a dbs=()
for entry in "${ENTRIES[@]}"; do
    db="${entry%%:*}"
    why=$(pg_database_problem "$db")
    if [[ -n "$why" ]]; then
        echo "refused: invalid name: database $(pg_show_name "$db") in DATABASES entry $(pg_show_name "$entry") $why; nothing was dumped" >&2
        exit 1
    fi
    dbs+=("$db")
done
(( ${#dbs[@]} > 0 )) || { echo "refused: DATABASES lists no database; nothing was dumped" >&2; exit 1; }
for db in "${dbs[@]}"; do
    mkdir -p "$BACKUP_DIR/$db"
    out="$BACKUP_DIR/$db/$db-$stamp.dump"
    started=$(date +%s)
    pg_dump --format=custom --compress=6 --no-password --dbname="$db" --file="$out.partial"
    mv "$out.partial" "$out"
    echo "{\"event\":\"dumped\",\"database\":\"$db\",\"file\":\"$out\",\"bytes\":$(stat -c %s "$out"),\"seconds\":$(( $(date +%s) - started ))}"
done
