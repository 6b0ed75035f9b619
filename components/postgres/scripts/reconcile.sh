#!/usr/bin/env bash
# Reconcile the databases of the platform's Postgres with the declared list. Idempotent: run it on
# every `pulumi up` (the Postgres component runs it as a Job whose name follows the list), and
# after a restore. It never drops anything: a database removed from the list is left in place.
#
# For each "database:owner" entry of DATABASES it makes sure that
#   - the owner role exists, can log in, is not a superuser and has the password from the
#     environment variable named by PASSWORD_ENV_PREFIX + upper-cased database name;
#   - the database exists and is owned by that role;
#   - nobody else may connect to it (CONNECT revoked from PUBLIC), except MONITORING_USER.
# MONITORING_USER (optional) gets the built-in pg_monitor role and the password in
# MONITORING_PASSWORD, for postgres-exporter.
#
# Environment: PGHOST, PGPORT, PGUSER, PGPASSWORD (a superuser; only this Job and the server
# have it), DATABASES ("airflow:airflow mlflow:mlflow"), PASSWORD_ENV_PREFIX (default
# DB_PASSWORD_), MONITORING_USER, MONITORING_PASSWORD.
# Output: one line per database/role: "<name>: created|updated|unchanged"; exit 1 on any error.
#
# Names (scripts/names.sh, the same rules as the stack config): every name is lower-case ASCII
# letters, digits and _, at most 63 bytes; no system database (postgres, template0, template1);
# no owner that is the superuser, the monitoring role, PUBLIC or a pg_* role, or that the server
# shows as an administrative role (superuser, replication, bypassrls, createrole) or as the owner
# of a database outside its entry. Everything is checked before anything changes.
set -euo pipefail
# shellcheck source=names.sh
source "$(dirname "${BASH_SOURCE[0]}")/names.sh"

: "${DATABASES:?DATABASES is not set: expected space-separated database:owner pairs, e.g. \"airflow:airflow mlflow:mlflow\"}"
: "${PGUSER:?PGUSER is not set: the superuser this script connects as}"
prefix="${PASSWORD_ENV_PREFIX:-DB_PASSWORD_}"
[[ "$prefix" =~ ^[A-Z][A-Z0-9_]*$ ]] || { echo "invalid PASSWORD_ENV_PREFIX $(pg_show_name "$prefix"): use upper-case letters, digits and _" >&2; exit 1; }

refuse() {
    echo "refused: $*; nothing was changed" >&2
    exit 1
}

psql_admin() {
    psql --no-psqlrc --quiet --tuples-only --no-align -v ON_ERROR_STOP=1 --dbname=postgres "$@"
}

# Does $1 authenticate with the password in the environment variable named $2? Used to leave a
# role untouched when its password is already right, so a re-run changes nothing.
password_works() {
    PGPASSWORD="${!2}" psql --no-psqlrc --quiet --tuples-only --no-align -w \
        --username="$1" --dbname=postgres -c 'select 1' >/dev/null 2>&1
}

# ensure_role ROLE PASSWORD_VAR: prints created|updated|unchanged.
ensure_role() {
    local role="$1" var="$2" exists
    exists=$(psql_admin -v role="$role" <<'SQL'
select count(*) from pg_roles where rolname = :'role';
SQL
)
    if [[ "$exists" == "0" ]]; then
        psql_admin -v role="$role" -v pwvar="$var" <<'SQL'
\getenv pw :pwvar
select format('create role %I login nosuperuser nocreatedb nocreaterole password %L', :'role', :'pw') \gexec
SQL
        echo created
    elif password_works "$role" "$var"; then
        # Still enforce the attributes (cheap, and a no-op when they are right).
        psql_admin -v role="$role" <<'SQL'
select format('alter role %I login nosuperuser nocreatedb nocreaterole', :'role')
where exists (select 1 from pg_roles where rolname = :'role'
              and (not rolcanlogin or rolsuper or rolcreatedb or rolcreaterole)) \gexec
SQL
        echo unchanged
    else
        psql_admin -v role="$role" -v pwvar="$var" <<'SQL'
\getenv pw :pwvar
select format('alter role %I login nosuperuser nocreatedb nocreaterole password %L', :'role', :'pw') \gexec
SQL
        echo updated
    fi
}

# Database list first: validate everything before changing anything.
declare -a names=() owners=() vars=()
monitoring="${MONITORING_USER:-}"
if [[ -n "$monitoring" ]]; then
    why=$(pg_name_problem "$monitoring")
    [[ -z "$why" && "$monitoring" != pg_* && "$monitoring" != public && "$monitoring" != postgres && "$monitoring" != "$PGUSER" ]] ||
        refuse "MONITORING_USER $(pg_show_name "$monitoring") ${why:-is the superuser, PUBLIC or a pg_* role; the monitoring role must be a role of its own}"
    [[ -n "${MONITORING_PASSWORD:-}" ]] || refuse "MONITORING_PASSWORD is not set (MONITORING_USER=$monitoring)"
fi
pg_split_entries "$DATABASES"
(( ${#ENTRIES[@]} > 0 )) || refuse "DATABASES lists no database"
for entry in "${ENTRIES[@]}"; do
    db="${entry%%:*}"
    owner="${entry#*:}"
    [[ "$entry" == *:* ]] || owner="$db"
    [[ "$owner" != *:* ]] || refuse "DATABASES entry $(pg_show_name "$entry") has more than one ':'"
    why=$(pg_database_problem "$db")
    [[ -z "$why" ]] || refuse "invalid name: database $(pg_show_name "$db") in DATABASES entry $(pg_show_name "$entry") $why"
    why=$(pg_owner_problem "$owner")
    [[ -z "$why" ]] || refuse "invalid name: owner $(pg_show_name "$owner") in DATABASES entry $(pg_show_name "$entry") $why"
    for i in "${!names[@]}"; do
        [[ "${names[$i]}" != "$db" ]] || refuse "DATABASES lists database $db twice"
        [[ "${owners[$i]}" != "$owner" ]] ||
            refuse "role $owner would own both ${names[$i]} and $db: each database needs its own owner (the script sets an owner's password to its database's)"
    done
    var="${prefix}${db^^}"
    [[ -n "${!var:-}" ]] || refuse "environment variable $var is not set: it must hold the password of role '$owner' (database '$db')"
    names+=("$db"); owners+=("$owner"); vars+=("$var")
done

# What the server already has: an owner must not be an administrative role or own a database
# outside its entry; a managed database must not be a template or closed to connections.
for i in "${!names[@]}"; do
    db="${names[$i]}" owner="${owners[$i]}"
    found=$(psql_admin -v role="$owner" -v db="$db" <<'SQL'
select 'admin:' || concat_ws(',',
         case when rolsuper then 'superuser' end, case when rolreplication then 'replication' end,
         case when rolbypassrls then 'bypassrls' end, case when rolcreaterole then 'createrole' end)
from pg_roles where rolname = :'role'
  and (rolsuper or rolreplication or rolbypassrls or rolcreaterole);
select 'owns:' || d.datname from pg_database d join pg_roles r on r.oid = d.datdba
where r.rolname = :'role' and d.datname <> :'db';
select 'template:' || datname from pg_database
where datname = :'db' and (datistemplate or not datallowconn);
SQL
)
    case "$found" in
        admin:*) refuse "role $owner is an administrative role on the server (${found#admin:}); the owner of database $db must be an ordinary role of its own" ;;
        owns:*) refuse "role $owner already owns database ${found#owns:}; give database $db its own owner" ;;
        template:*) refuse "database $db is a template or does not accept connections on the server" ;;
    esac
done
if [[ -n "$monitoring" ]]; then
    for owner in "${owners[@]}"; do
        [[ "$owner" != "$monitoring" ]] || refuse "role $owner is the monitoring role; give its database its own owner"
    done
    found=$(psql_admin -v role="$monitoring" <<'SQL'
select rolname from pg_roles where rolname = :'role'
  and (rolsuper or rolreplication or rolbypassrls or rolcreaterole);
SQL
)
    [[ -z "$found" ]] || refuse "MONITORING_USER $monitoring is an administrative role on the server; the monitoring role must have pg_monitor only"
fi

if [[ -n "$monitoring" ]]; then
    state=$(ensure_role "$monitoring" MONITORING_PASSWORD)
    psql_admin -v role="$monitoring" <<'SQL'
select format('grant pg_monitor to %I', :'role')
where not pg_has_role(:'role', 'pg_monitor', 'member') \gexec
SQL
    echo "role $monitoring: $state"
fi

for i in "${!names[@]}"; do
    db="${names[$i]}" owner="${owners[$i]}" var="${vars[$i]}"
    role_state=$(ensure_role "$owner" "$var")
    db_state=$(psql_admin -v db="$db" -v owner="$owner" -v mon="$monitoring" <<'SQL'
select case when exists (select 1 from pg_database where datname = :'db') then 'exists' else 'created' end;
select format('create database %I owner %I', :'db', :'owner')
where not exists (select 1 from pg_database where datname = :'db') \gexec
select format('alter database %I owner to %I', :'db', :'owner')
from pg_database d join pg_roles r on r.oid = d.datdba
where d.datname = :'db' and r.rolname <> :'owner' \gexec
-- Only the owner (and the monitoring role) may connect; revoking twice is a no-op.
select format('revoke all on database %I from public', :'db') \gexec
select format('grant connect on database %I to %I', :'db', :'mon') where :'mon' <> '' \gexec
SQL
)
    db_state="${db_state%%$'\n'*}"
    if [[ "$db_state" == "created" ]]; then
        echo "database $db: created (owner $owner; role $role_state)"
    elif [[ "$role_state" == "unchanged" ]]; then
        echo "database $db: unchanged (owner $owner)"
    else
        echo "database $db: updated (owner $owner; role $role_state)"
    fi
done
