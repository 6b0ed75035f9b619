#!/usr/bin/env bash
# Dump every database of DATABASES ("db:owner …", the same list reconcile.sh uses) with pg_dump's
# custom format into BACKUP_DIR/<db>/<db>-<UTC timestamp>.dump. Each dump is written to a
# .partial file and renamed only when pg_dump succeeded, so a failed run never leaves a file
# that looks complete. In the cluster a second container uploads BACKUP_DIR to the backups
# bucket, whose lifecycle rule deletes dumps older than the retention.
#
# Environment: PGHOST, PGPORT, PGUSER, PGPASSWORD (a role that can read every listed database),
# DATABASES, BACKUP_DIR, optional BACKUP_STAMP (default: now, UTC, e.g. 20261121T020000Z).
set -euo pipefail
: "${DATABASES:?DATABASES is not set: expected space-separated database:owner pairs}"
: "${BACKUP_DIR:?BACKUP_DIR is not set: the directory the dumps are written to}"
stamp="${BACKUP_STAMP:-$(date -u +%Y%m%dT%H%M%SZ)}"
for entry in $DATABASES; do
    db="${entry%%:*}"
    mkdir -p "$BACKUP_DIR/$db"
    out="$BACKUP_DIR/$db/$db-$stamp.dump"
    started=$(date +%s)
    pg_dump --format=custom --compress=6 --no-password --dbname="$db" --file="$out.partial"
    mv "$out.partial" "$out"
    echo "{\"event\":\"dumped\",\"database\":\"$db\",\"file\":\"$out\",\"bytes\":$(stat -c %s "$out"),\"seconds\":$(( $(date +%s) - started ))}"
done
