"""Prepare the local Airflow's metadata DB in one Python process: migrate it, then create its users.

`airflow db migrate`, `airflow users create` and `airflow users reset-password` each start
Airflow (about 4 s of imports here, before any work); this does all of it in one start.

    python airflow_prepare.py [--migrate] < users.jsonl

`--migrate` first runs `airflow db migrate` itself, through Airflow's own CLI entry point in this
process (the command's exact code path, output and exit status). Then it reads one JSON object
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
    args = parser.parse_args()
    # Read (and check) the users before migrating: a bad line fails fast, with nothing changed.
    users = read_users(sys.stdin.readlines())
    if args.migrate:
        migrate()
    if users:
        create_users(users)
    return 0


if __name__ == "__main__":
    sys.exit(main())
