"""A warm worker: a long-lived Python process that has imported a component's heavy libraries
once and runs each job in a fork of itself (the local runtime only; issue 26).

A job's own command line is unchanged: the local runner (``dags/common/runners.py``) would run
``<venv>/bin/python main.py args`` or ``<venv>/bin/python -m module args``; with a worker of
that venv it sends the same argv, working directory and environment here instead, and the
fork runs it the way the interpreter would (``runpy``, ``sys.argv``, ``sys.path[0]``, the
environment, ``atexit`` handlers, the exit code), with the caller's stdout and stderr (pipes
passed over the socket). What a fresh interpreter pays per job (start-up and importing dbt,
MLflow, scikit-learn, pandas, PySpark's Connect client, Great Expectations) is paid once here.

Only libraries are imported before the fork (``--preload``), never the project's own modules:
a job always runs the code in the working tree. A preloaded module must not start threads
(a fork keeps only the thread that forked): the worker refuses to start if one did.

    python -m taxi_common.warmworker --socket PATH --preload-from pyproject.toml [--name dbt]

The list of modules is the component's own, in its ``pyproject.toml``::

    [tool.taxi-warm-worker]
    preload = ["dbt.cli.main", "dbt.adapters.duckdb"]

Protocol (the client is ``dags/common/warm_client.py``; ``AF_UNIX`` ``SOCK_SEQPACKET``, one
job per connection, peers of other users refused): the client sends one JSON message
``{"argv": [...], "cwd": ..., "env": {...}}`` with two file descriptors (the job's stdout and
stderr), the worker answers
``{"pid": N}`` once the job started and ``{"exit_code": N}`` when it ended (negative: killed by
that signal, as :mod:`subprocess` reports it) or ``{"error": "..."}`` if it could not start it.
When the client goes away first (the task was killed or timed out), the job's process group
gets SIGTERM, then SIGKILL after ``--kill-grace`` seconds.

Standard library only (it imports nothing of ``taxi_common`` either).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

MAX_MESSAGE = 1 << 20
_JOB_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}


def log(event: str, **fields: Any) -> None:
    """One JSON line on the worker's stderr (its log file), like taxi_common.jsonlog's."""
    payload = {
        "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
        "level": "info",
        "logger": "taxi_common.warmworker",
        "event": event,
        **fields,
    }
    print(json.dumps(payload, default=str), file=sys.stderr, flush=True)


@dataclass
class Request:
    """A validated job request: what to run, where, with which environment."""

    argv: list[str]
    cwd: str
    env: dict[str, str]

    @staticmethod
    def parse(raw: bytes) -> Request:
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"the request is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("the request must be a JSON object")
        argv, cwd, env = data.get("argv"), data.get("cwd"), data.get("env")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError("argv must be a non-empty list of strings")
        if argv[0] == "-m":
            if len(argv) < 2 or not argv[1]:
                raise ValueError("argv: -m needs a module name")
        elif argv[0].startswith("-"):
            raise ValueError(
                f"argv: interpreter option {argv[0]!r} is not supported (only a script or -m)"
            )
        if not isinstance(cwd, str) or not os.path.isdir(cwd):
            raise ValueError(f"cwd {cwd!r} is not a directory")
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and k and "=" not in k and "\0" not in v
            for k, v in env.items()
        ):
            raise ValueError("env must be an object of string names to string values")
        return Request(argv, cwd, env)


@dataclass
class Job:
    pid: int
    conn: socket.socket
    started: float
    killed_at: float | None = None
    fds: list[int] = field(default_factory=list)


def preload(modules: list[str]) -> dict[str, float]:
    """Import each module; seconds per module. Refuses a module that leaves threads behind."""
    seconds = {}
    for name in modules:
        started = time.perf_counter()
        importlib.import_module(name)
        seconds[name] = round(time.perf_counter() - started, 3)
        extra = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        if extra:
            raise SystemExit(
                f"warm worker: importing {name} started threads ({', '.join(extra)}); a forked "
                "job would inherit a broken copy of them. Remove it from --preload."
            )
    return seconds


def preload_list(pyproject: str) -> list[str]:
    """``[tool.taxi-warm-worker] preload`` of a pyproject.toml (a clear error when malformed)."""
    import tomllib  # noqa: PLC0415 - Python 3.11+, only the local runtime reads it

    with open(pyproject, "rb") as f:
        table = tomllib.load(f).get("tool", {}).get("taxi-warm-worker", {})
    modules = table.get("preload", [])
    if not isinstance(modules, list) or not all(isinstance(m, str) and m for m in modules):
        raise SystemExit(
            f"warm worker: {pyproject}: [tool.taxi-warm-worker] preload must be a list of "
            "module names"
        )
    return modules


def _base_sys_path() -> list[str]:
    """sys.path without the worker's own first entry and PYTHONPATH: what every job keeps."""
    own = {os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    rest = sys.path[1:]
    return [p for p in rest if os.path.abspath(p) not in own]


def run_job(req: Request, base_path: list[str]) -> int:
    """In the forked child: become the interpreter ``python <argv>`` would have been."""
    os.chdir(req.cwd)
    os.environ.clear()
    os.environ.update(req.env)
    extra = [p for p in req.env.get("PYTHONPATH", "").split(os.pathsep) if p]
    first = req.cwd if req.argv[0] == "-m" else os.path.dirname(os.path.abspath(req.argv[0]))
    sys.path[:] = [first, *extra, *base_path]
    importlib.invalidate_caches()
    # As PYTHONUNBUFFERED does for a fresh interpreter: each stdout line reaches the caller now.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    code = 0
    try:
        if req.argv[0] == "-m":
            sys.argv = [req.argv[1], *req.argv[2:]]  # runpy sets argv[0] to the file
            runpy.run_module(req.argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(req.argv)
            runpy.run_path(req.argv[0], run_name="__main__")
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = 130
    except BaseException:  # noqa: BLE001 - the interpreter's own behaviour: traceback, exit 1
        traceback.print_exc()
        code = 1
    # What interpreter shutdown does (Py_FinalizeEx): threading._shutdown() runs the
    # threading-atexit hooks (a ThreadPoolExecutor's workers are told to stop there) and joins
    # the non-daemon threads, then the atexit handlers run.
    threading._shutdown()  # type: ignore[attr-defined]
    try:
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
        code = code or 1
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    return code


def _exit_code(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _send(conn: socket.socket, message: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # the client is gone; its job is being stopped
        conn.send(json.dumps(message).encode())


class Worker:
    def __init__(self, path: str, name: str, kill_grace: float) -> None:
        self.path = path
        self.name = name
        self.kill_grace = kill_grace
        self.base_path = _base_sys_path()
        self.jobs: dict[int, Job] = {}
        self.by_conn: dict[socket.socket, Job] = {}
        self.sel = selectors.DefaultSelector()
        self.stopping = False
        self.listener = self._listen()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def _listen(self) -> socket.socket:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        old = os.umask(0o177)  # the socket file: this user only
        try:
            sock.bind(self.path)
        finally:
            os.umask(old)
        sock.listen(16)
        return sock

    def serve(self) -> None:
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.sel.register(self.listener, selectors.EVENT_READ, "accept")
        self.sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        while not (self.stopping and not self.jobs):
            timeout = 1.0 if any(j.killed_at for j in self.jobs.values()) or self.stopping else None
            for key, _ in self.sel.select(timeout):
                if key.data == "accept":
                    self._accept()
                elif key.data == "wake":
                    try:
                        while os.read(self.wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                else:
                    self._client_event(key.fileobj)  # type: ignore[arg-type]
            self._reap()
            self._escalate()
        self.listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        log("worker_stopped", worker=self.name)

    def _stop(self, *_: Any) -> None:
        if not self.stopping:
            self.stopping = True
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(self.listener)
            for job in self.jobs.values():
                self._terminate(job)

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
        if uid != os.getuid():
            log("peer_refused", worker=self.name, uid=uid)
            conn.close()
            return
        fds: list[int] = []
        try:
            conn.settimeout(5)
            msg, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 2)
            conn.settimeout(None)
            if len(fds) != 2:
                raise ValueError("send the job's stdout and stderr as two file descriptors")
            req = Request.parse(msg)
        except (OSError, ValueError) as exc:
            _send(conn, {"error": str(exc)})
            for fd in fds:
                os.close(fd)
            conn.close()
            return
        self._fork(conn, req, fds)

    def _fork(self, conn: socket.socket, req: Request, fds: list[int]) -> None:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        # Signals stay blocked across the fork until the child has its own handlers: a SIGTERM
        # that arrives first (the caller went away at once) must kill the job, not run the
        # worker's handler in it. Both sides set the job's process group (the usual idiom), so
        # it exists before the worker can signal it.
        signal.pthread_sigmask(signal.SIG_BLOCK, _JOB_SIGNALS)
        pid = os.fork()
        if pid == 0:  # the job
            code = 1
            try:
                os.setpgid(0, 0)
                signal.set_wakeup_fd(-1)
                for sig in (signal.SIGCHLD, signal.SIGTERM):
                    signal.signal(sig, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _JOB_SIGNALS)
                self.sel.close()
                self.listener.close()
                conn.close()
                for other in self.by_conn:
                    other.close()
                os.close(self.wake_r)
                os.close(self.wake_w)
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.dup2(fds[0], 1)
                os.dup2(fds[1], 2)
                for fd in (devnull, *fds):
                    if fd > 2:
                        os.close(fd)
                code = run_job(req, self.base_path)
            except BaseException:  # noqa: BLE001
                traceback.print_exc()
            finally:
                os._exit(code)
        with contextlib.suppress(OSError):  # the child may have set it already
            os.setpgid(pid, pid)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _JOB_SIGNALS)
        for fd in fds:
            os.close(fd)
        job = Job(pid, conn, time.monotonic())
        self.jobs[pid] = job
        self.by_conn[conn] = job
        self.sel.register(conn, selectors.EVENT_READ, "client")
        _send(conn, {"pid": pid})
        log("job_started", worker=self.name, pid=pid, argv=req.argv[:2])

    def _client_event(self, conn: socket.socket) -> None:
        """The client sends nothing after its request: readable means it went away."""
        job = self.by_conn.get(conn)
        try:
            data = conn.recv(64)
        except OSError:
            data = b""
        if data:
            return
        self.sel.unregister(conn)
        if job is not None and job.killed_at is None:
            log("client_gone", worker=self.name, pid=job.pid)
            self._terminate(job)

    def _terminate(self, job: Job) -> None:
        job.killed_at = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGTERM)

    def _escalate(self) -> None:
        now = time.monotonic()
        for job in self.jobs.values():
            if job.killed_at is not None and now - job.killed_at > self.kill_grace:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(job.pid, signal.SIGKILL)

    def _reap(self) -> None:
        while self.jobs:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job = self.jobs.pop(pid, None)
            if job is None:
                continue
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            _send(job.conn, {"exit_code": code})
            self.by_conn.pop(job.conn, None)
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(job.conn)
            job.conn.close()
            log(
                "job_finished",
                worker=self.name,
                pid=pid,
                exit_code=code,
                seconds=round(time.monotonic() - job.started, 3),
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m taxi_common.warmworker", description=__doc__)
    parser.add_argument("--socket", required=True, help="path of the Unix socket to listen on")
    parser.add_argument("--preload", default="", help="comma-separated modules to import once")
    parser.add_argument(
        "--preload-from",
        default=None,
        help="a pyproject.toml whose [tool.taxi-warm-worker] preload lists more modules",
    )
    parser.add_argument("--name", default="worker", help="the worker's name in its log")
    parser.add_argument("--kill-grace", type=float, default=10.0, help="SIGTERM → SIGKILL, s")
    args = parser.parse_args(argv)
    modules = [m.strip() for m in args.preload.split(",") if m.strip()]
    if args.preload_from:
        modules += preload_list(args.preload_from)
    started = time.perf_counter()
    seconds = preload(modules)
    worker = Worker(args.socket, args.name, args.kill_grace)
    log(
        "worker_ready",
        worker=args.name,
        socket=args.socket,
        preload_seconds=seconds,
        seconds=round(time.perf_counter() - started, 3),
    )
    worker.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
