"""Create the local Airflow's FAB users, or store their passwords, in one Python process.

`airflow users create` and `airflow users reset-password` start Airflow once per call (about 8 s
each here); this does all the users in one start. It reads one JSON object per line on stdin
(passwords never go on a command line, which every user of the machine can read):

    {"username": "...", "password": "...", "role": "User", "reset": false}

For each: create the user with that role when it does not exist; when it does and "reset" is
true, store the given password (the metadata DB was kept but the password changed, or its hash
predates the current one). An existing user keeps its role, as with the CLI. Prints one line per
user, never a password. Run it with the Airflow environment's Python and the same environment
(AIRFLOW_HOME, AIRFLOW__*) as the airflow CLI; it must not run while an api-server starts (both
would sync the FAB roles).
"""

from __future__ import annotations

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


def apply(users: list[dict]) -> None:
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
    users = read_users(sys.stdin.readlines())
    if users:
        apply(users)
    return 0


if __name__ == "__main__":
    sys.exit(main())
