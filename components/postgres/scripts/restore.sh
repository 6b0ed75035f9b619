#!/usr/bin/env bash
# Restore one database from a dump written by backup.sh. Run it as the database's owner (or a
# superuser); it replaces the objects in the dump (pg_restore --clean --if-exists) in ONE
# transaction, so a failed restore leaves the database as it was.
#
#   restore.sh <dump file> <database>
#
# Full procedure (README "Restore a database"): scale the app down, copy the dump out of the
# backups bucket (gcloud storage cp gs://<project>-backups/postgres/<db>/<file> .), run this
# script from a pod that can reach Postgres, run reconcile.sh, scale the app up.
# The database name is checked first (scripts/names.sh, next to this script): "dbname=..." would
# be read as a connection string, and system databases are never restored into.
set -euo pipefail
if [[ $# -ne 2 ]]; then
    echo "usage: restore.sh <dump file> <database>" >&2
    exit 2
fi
dump="$1" db="$2"
# shellcheck source=names.sh
source "$(dirname "${BASH_SOURCE[0]}")/names.sh"
why=$(pg_database_problem "$db")
if [[ -n "$why" ]]; then
    echo "refused: invalid name: database $(pg_show_name "$db") $why; nothing was restored" >&2
    exit 2
fi
[[ -f "$dump" ]] || { echo "dump file '$dump' does not exist" >&2; exit 2; }
pg_restore --list "$dump" >/dev/null || { echo "'$dump' is not a pg_dump custom-format archive" >&2; exit 2; }
pg_restore --clean --if-exists --no-owner --single-transaction --exit-on-error \
    --no-password --dbname="$db" "$dump"
echo "{\"event\":\"restored\",\"database\":\"$db\",\"file\":\"$dump\"}"
