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
set -euo pipefail
if [[ $# -ne 2 ]]; then
    echo "usage: restore.sh <dump file> <database>" >&2
    exit 2
fi
dump="$1" db="$2"
[[ -f "$dump" ]] || { echo "dump file '$dump' does not exist" >&2; exit 2; }
pg_restore --list "$dump" >/dev/null || { echo "'$dump' is not a pg_dump custom-format archive" >&2; exit 2; }
pg_restore --clean --if-exists --no-owner --single-transaction --exit-on-error \
    --no-password --dbname="$db" "$dump"
echo "{\"event\":\"restored\",\"database\":\"$db\",\"file\":\"$dump\"}"
