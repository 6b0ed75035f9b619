"""Prepare the local Airflow's metadata DB in one Python process: migrate it, then create its users.

`airflow db migrate`, `airflow users create` and `airflow users reset-password` each start
Airflow (about 4 s of imports here, before any work); this does all of it in one start.

    python airflow_prepare.py [--migrate] < users.jsonl

`--migrate` first runs `airflow db migrate` itself, through Airflow's own CLI entry point in this
process (the command's exact code path, output and exit status).

`--template NAME` (PostgreSQL only, with `--migrate`) saves the migration of a new database: an
empty metadata database is replaced by a copy of the database NAME when that exists
(`CREATE DATABASE … TEMPLATE`, a file copy: about 0.1 s against about 7 s of creating Airflow's
tables), and when it does not, the freshly migrated database, before any user is created in it,
is copied to NAME for the next time. A copy is not migrated again: NAME must only ever name a
copy made by this same Airflow environment, which the caller ensures by keying it with the
environment's requirements hash. Everything
about the template is best effort: when a step fails (another session on a database, no right to
create databases), the script says so on one line and goes on as without it. Then it reads one JSON object
per line on stdin (passwords never go on a command line, which every user of the machine can read):

    {"username": "...", "password": "...", "role": "User", "reset": false}

For each: create the user with that role when it does not exist (FAB's security manager, as
`airflow users create` uses it); when it does and "reset" is true, store the given password (the
metadata DB was kept but the password changed, or its hash predates the current one). An
existing user keeps its role, as with the CLI. Prints one line per user, never a password. Run it
with the Airflow environment's Python and the same environment (AIRFLOW_HOME, AIRFLOW__*) as the
airflow CLI; not while an api-server starts (both would sync the FAB roles).
"""

from __future__ import annotations

import argparse
import json
import sys


def read_users(lines: list[str]) -> list[dict]:
    users = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            user = json.loads(line)
        except json.JSONDecodeError as err:
            raise SystemExit(f"stdin line {number}: not JSON ({err.msg})") from None
        missing = [k for k in ("username", "password", "role") if not user.get(k)]
        if missing:
            raise SystemExit(f"stdin line {number}: missing {', '.join(missing)}")
        users.append(user)
    return users


TEMPLATE_PREFIX = "taxi_local_airflow_tpl_"


def _maintenance(url):
    """An autocommit connection to the server's `postgres` database, as the metadata DB's user."""
    import psycopg2

    con = psycopg2.connect(
        host=url.host,
        port=url.port or 5432,
        user=url.username,
        dbname="postgres",
        connect_timeout=5,
    )
    con.autocommit = True
    return con


def _quoted(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unexpected database name {name!r}")
    return f'"{name}"'


def _metadata_url():
    from airflow.configuration import conf
    from sqlalchemy.engine import make_url

    url = make_url(conf.get("database", "sql_alchemy_conn"))
    return url if url.get_backend_name() == "postgresql" and url.database else None


def use_template(template: str) -> str:
    """Replace the empty metadata DB by a copy of `template` when that exists.

    Returns "copied", "save" (it was empty and there is no template yet: save the database as
    `template` once migrated) or "" (not empty, not PostgreSQL, or a step failed)."""
    import psycopg2

    url = _metadata_url()
    if url is None:
        print("metadata template: not PostgreSQL, not used", flush=True)
        return ""
    try:
        db = psycopg2.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            dbname=url.database,
            connect_timeout=5,
        )
        try:
            with db.cursor() as cur:
                # Nothing in it but the system catalogs: a database just created for Airflow.
                cur.execute(
                    "select count(*) from pg_class c"
                    " join pg_namespace n on n.oid = c.relnamespace"
                    " where n.nspname not in ('pg_catalog', 'information_schema')"
                    " and n.nspname not like 'pg\\_toast%'"
                )
                empty = cur.fetchone()[0] == 0
        finally:
            db.close()
        if not empty:
            return ""
        con = _maintenance(url)
        try:
            with con.cursor() as cur:
                cur.execute("select 1 from pg_database where datname = %s", (template,))
                if cur.fetchone() is None:
                    return "save"
                cur.execute(f"drop database {_quoted(url.database)}")
                try:
                    cur.execute(
                        f"create database {_quoted(url.database)} template {_quoted(template)}"
                    )
                except psycopg2.Error:
                    cur.execute(f"create database {_quoted(url.database)}")
                    raise
        finally:
            con.close()
        print(f"metadata template: copied {template}", flush=True)
        return "copied"
    except (psycopg2.Error, ValueError) as err:
        print(f"metadata template: not used ({str(err).strip()})", flush=True)
        return ""


def save_template(template: str) -> None:
    """Copy the freshly migrated metadata DB to `template`."""
    import psycopg2
    from airflow import settings

    url = _metadata_url()
    if url is None:
        return
    # No connection of this process may stay on the database being copied.
    if settings.Session is not None:
        settings.Session.remove()
    if settings.engine is not None:
        settings.engine.dispose()
    try:
        con = _maintenance(url)
        try:
            with con.cursor() as cur:
                cur.execute(
                    f"create database {_quoted(template)} template {_quoted(url.database)}"
                )
        finally:
            con.close()
        print(f"metadata template: saved {template}", flush=True)
    except (psycopg2.Error, ValueError) as err:
        print(f"metadata template: not saved ({str(err).strip()})", flush=True)


def migrate() -> None:
    """`airflow db migrate`, run by Airflow's CLI entry point in this process."""
    from airflow.__main__ import main as airflow_cli

    argv = sys.argv
    sys.argv = ["airflow", "db", "migrate"]
    try:
        airflow_cli()
    finally:
        sys.argv = argv
    print("airflow db migrate: done", flush=True)


def create_users(users: list[dict]) -> None:
    from airflow.providers.fab.auth_manager.cli_commands.utils import (
        get_application_builder,
    )
    from airflow.utils.providers_configuration_loader import (
        providers_configuration_loaded,
    )

    @providers_configuration_loaded
    def run() -> None:
        with get_application_builder() as appbuilder:
            sm = appbuilder.sm
            for user in users:
                name = user["username"]
                role = sm.find_role(user["role"])
                if role is None:
                    roles = sorted(r.name for r in sm.get_all_roles())
                    raise SystemExit(
                        f"{user['role']} is not a valid role; valid roles: {roles}"
                    )
                existing = sm.find_user(username=name)
                if existing is None:
                    email = f"{name}@localhost.invalid"
                    if not sm.add_user(
                        name, "Local", name, email, role, user["password"]
                    ):
                        raise SystemExit(
                            f"creating user {name} failed (see the lines above)"
                        )
                    print(
                        f'User "{name}" created with role "{user["role"]}"', flush=True
                    )
                elif user.get("reset"):
                    if not sm.reset_password(existing.id, user["password"]):
                        raise SystemExit(f"storing the password of {name} failed")
                    print(f'User "{name}" already exists; password stored', flush=True)
                else:
                    print(f'User "{name}" already exists', flush=True)

    run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--migrate", action="store_true", help="run `airflow db migrate` first"
    )
    parser.add_argument(
        "--template",
        metavar="NAME",
        help="copy an empty metadata DB from this template database, or save one (see above)",
    )
    args = parser.parse_args()
    if args.template is not None and not (
        args.migrate and args.template.startswith(TEMPLATE_PREFIX)
    ):
        parser.error(
            f"--template needs --migrate and a name starting {TEMPLATE_PREFIX}"
        )
    # Read (and check) the users before migrating: a bad line fails fast, with nothing changed.
    users = read_users(sys.stdin.readlines())
    template = use_template(args.template) if args.template is not None else ""
    if template == "copied":
        # The template's name is keyed by this environment's requirements: the copy was
        # migrated by this very Airflow, so there is nothing for a migrate to do.
        print(
            "airflow db migrate: not needed (a copy migrated by this Airflow)",
            flush=True,
        )
    elif args.migrate:
        migrate()
    if template == "save":
        save_template(args.template)
    if users:
        create_users(users)
    return 0


if __name__ == "__main__":
    sys.exit(main())
