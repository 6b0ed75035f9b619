# Sourced by reconcile.sh, backup.sh and restore.sh: the name rules of
# components/postgres/names.ts, so the scripts refuse what the stack config refuses even when an
# operator runs them by hand. Each *_problem function prints why a name is refused, or nothing.
#
# A managed name is lower-case ASCII letters, digits and _, starting with a letter, at most 63
# bytes. That keeps quotes, ;, $(...), `...`, = (a "dbname=..." connection string), / and ..
# (paths), whitespace, newlines and Unicode look-alikes out of SQL, command lines and file names.

# Byte-wise, ASCII-only matching and lengths whatever the caller's locale.
export LC_ALL=C

# How a name is shown in messages: shell-quoted, so a newline or a control character is visible.
pg_show_name() {
    printf '%q' "$1"
}

pg_name_problem() {
    local n="$1"
    if [[ -z "$n" ]]; then
        echo "is empty"
    elif (( ${#n} > 63 )); then
        echo "is ${#n} bytes long; PostgreSQL truncates names to 63 bytes, so use at most 63"
    elif [[ ! "$n" =~ ^[a-z0-9_]+$ ]]; then
        echo "contains a character other than lower-case ASCII letters, digits and _ (quotes, ;, \$, /, ., =, whitespace and non-ASCII look-alikes are refused)"
    elif [[ ! "$n" =~ ^[a-z] ]]; then
        echo "must start with a lower-case letter"
    fi
}

pg_database_problem() {
    local why
    why=$(pg_name_problem "$1")
    if [[ -n "$why" ]]; then
        echo "$why"
    elif [[ "$1" == postgres || "$1" == template0 || "$1" == template1 ]]; then
        echo "is a system database of every PostgreSQL server (postgres, template0, template1); the platform never manages those"
    fi
}

# pg_owner_problem ROLE: the roles that must never own a managed database. The superuser is
# "postgres" and whoever this script connects as (PGUSER); the monitoring role is MONITORING_USER
# (default "monitoring").
pg_owner_problem() {
    local why
    why=$(pg_name_problem "$1")
    if [[ -n "$why" ]]; then
        echo "$why"
    elif [[ "$1" == postgres || "$1" == "${PGUSER:-postgres}" ]]; then
        echo "is the superuser: making it a database owner would take SUPERUSER away from it and replace its password, leaving the server without an administrator"
    elif [[ "$1" == "${MONITORING_USER:-monitoring}" || "$1" == monitoring ]]; then
        echo "is the monitoring role (pg_monitor only, used by postgres-exporter); give the database its own owner"
    elif [[ "$1" == public ]]; then
        echo "is PostgreSQL's PUBLIC pseudo-role"
    elif [[ "$1" == pg_* ]]; then
        echo "starts with pg_, which PostgreSQL reserves for its predefined roles"
    fi
}

# pg_split_entries: the words of DATABASES split on spaces only, without glob expansion, into
# the array ENTRIES (a newline stays inside its entry, where the name check refuses it).
pg_split_entries() {
    local IFS=' '
    set -f
    # shellcheck disable=SC2206 # splitting on spaces is the point; globbing is off
    ENTRIES=($1)
    set +f
}
