"""The local runner's side of a warm worker (``libs/python/taxi_common/warmworker.py``).

``npm start`` runs one warm worker per component venv (spark, dbt, ml): a Python process that
imported the component's libraries once and runs each job in a fork of itself. The local
Airflow learns their sockets from ``TAXI_WARM_WORKERS`` (``component=/path/to.sock,...``); a job
whose command line starts with that component's venv python is sent there instead of being
started as a new process. The command line, working directory and environment are the ones the
process would have had; the job writes to this side's pipes.

Protocol: one ``AF_UNIX`` ``SOCK_SEQPACKET`` connection per job; the request is one JSON message
``{"argv", "cwd", "env"}`` (argv without the interpreter) carrying the job's stdout and stderr
write ends (``SCM_RIGHTS``); the worker answers ``{"pid"}`` then ``{"exit_code"}``, or
``{"error"}``. Closing the connection early stops the job.
"""

from __future__ import annotations

import array
import contextlib
import errno
import json
import os
import signal
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_KEY = "TAXI_WARM_WORKERS"


class WorkerUnavailableError(OSError):
    """Nothing listens on the worker's socket: start the job as a process instead."""


def parse_workers(value: str | None) -> dict[str, str]:
    """``"dbt=/s/dbt.sock,ml=/s/ml.sock"`` → ``{"dbt": "/s/dbt.sock", ...}``."""
    out: dict[str, str] = {}
    for item in (value or "").split(","):
        name, sep, path = item.strip().partition("=")
        if not item.strip():
            continue
        if not sep or not name or not path.startswith("/"):
            raise ValueError(f"{ENV_KEY}: {item.strip()!r} is not component=/absolute/path/to.sock")
        out[name] = path
    return out


def worker_for(component: str, argv: list[str], folder: Path, env: Mapping[str, str]) -> str | None:
    """The socket of ``component``'s warm worker when ``argv`` runs that venv's python with a
    script or ``-m`` (what a worker can run), else None."""
    path = parse_workers(env.get(ENV_KEY)).get(component)
    if path is None or len(argv) < 2:
        return None
    if Path(argv[0]) != folder / ".venv" / "bin" / "python":
        return None
    if argv[1].startswith("-") and argv[1] != "-m":
        return None
    return path


class Submitted:
    """A job running in a warm worker: its pid, :meth:`wait` for its exit code, :meth:`kill`."""

    def __init__(self, conn: socket.socket, pid: int) -> None:
        self.conn = conn
        self.pid = pid

    def wait(self) -> int:
        try:
            answer = _receive(self.conn)
        finally:
            self.conn.close()
        if "exit_code" not in answer:
            raise RuntimeError(f"the warm worker lost job {self.pid}: {answer.get('error')}")
        return int(answer["exit_code"])

    def kill(self) -> None:
        """SIGKILL the job's process group (it runs as this user) and hang up."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        self.conn.close()


def submit(  # noqa: PLR0917 - the job's four parts and its two streams
    path: str, argv: list[str], cwd: str, env: Mapping[str, str], stdout: int, stderr: int
) -> Submitted:
    """Send one job (``argv`` without the interpreter). ``stdout``/``stderr`` are the write ends
    the job writes to; close your copies once this returns. Raises
    :class:`WorkerUnavailableError` when nothing listens, ValueError when the worker refused."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        conn.connect(path)
    except OSError as exc:
        conn.close()
        if exc.errno in (errno.ENOENT, errno.ECONNREFUSED, errno.ENOTSOCK, errno.EPROTOTYPE):
            raise WorkerUnavailableError(exc.errno, f"no warm worker at {path}: {exc}") from None
        raise
    try:
        payload = json.dumps({"argv": argv, "cwd": cwd, "env": dict(env)}).encode()
        fds = array.array("i", [stdout, stderr])
        conn.sendmsg([payload], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        answer = _receive(conn)
    except BaseException:
        conn.close()
        raise
    if "pid" not in answer:
        conn.close()
        raise ValueError(f"the warm worker at {path} refused the job: {answer.get('error')}")
    return Submitted(conn, int(answer["pid"]))


def _receive(conn: socket.socket) -> dict[str, Any]:
    raw = conn.recv(65536)
    if not raw:
        return {"error": "the worker closed the connection (did it stop?)"}
    return json.loads(raw)
