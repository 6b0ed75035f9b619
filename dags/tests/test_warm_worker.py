"""The local runtime's warm workers, for real: ``python -m taxi_common.warmworker`` in this venv
and the local runner's client (:mod:`common.warm_client`), over a real Unix socket.

A job in a worker must behave as ``python <argv>`` would: its argv, working directory,
environment (and nothing of the worker's), ``sys.path[0]``, ``__main__``, exit code, output on
the caller's pipes, atexit handlers, non-daemon threads waited for; and it must stop when the
caller goes away."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from common import warm_client
from common.jobs import Job
from common.runners import _start_local
from tests.conftest import REPO_ROOT


def _run(sock: Path, argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 60):
    """One job through the client: (exit code, stdout, stderr)."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        job = warm_client.submit(str(sock), argv, str(cwd), env, out_w, err_w)
    finally:
        os.close(out_w)
        os.close(err_w)
    chunks: dict[int, bytes] = {}

    def drain(fd: int) -> None:
        with os.fdopen(fd, "rb") as f:
            chunks[fd] = f.read()

    readers = [threading.Thread(target=drain, args=(fd,)) for fd in (out_r, err_r)]
    for t in readers:
        t.start()
    code = job.wait()
    for t in readers:
        t.join(timeout)
    return code, chunks[out_r].decode(), chunks[err_r].decode()


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_a_script_runs_as_the_interpreter_would_run_it(warm_worker, tmp_path, monkeypatch):
    sock, _ = warm_worker
    work = tmp_path / "work"
    work.mkdir()
    script = _script(
        tmp_path,
        "job.py",
        """
        import atexit, json, os, sys, threading, time
        def late():
            time.sleep(0.3)
            print("thread done", file=sys.stderr)
        threading.Thread(target=late).start()  # non-daemon: waited for before exit
        atexit.register(lambda: print("atexit ran", file=sys.stderr))
        print(json.dumps({
            "argv": sys.argv, "cwd": os.getcwd(), "name": __name__,
            "path0": sys.path[0], "env": sorted(os.environ),
            "pythonpath_entry": "/x/extra" in sys.path,
        }))
        sys.exit(int(sys.argv[1]))
        """,
    )
    env = {"JOB_ONLY": "1", "PYTHONPATH": "/x/extra"}
    code, out, err = _run(sock, [str(script), "7"], work, env)
    assert code == 7, err
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["argv"] == [str(script), "7"]
    assert seen["cwd"] == str(work)
    assert seen["name"] == "__main__"
    assert seen["path0"] == str(tmp_path)
    assert seen["env"] == ["JOB_ONLY", "PYTHONPATH"]  # nothing of the worker's environment
    assert seen["pythonpath_entry"] is True
    assert err.index("thread done") < err.index("atexit ran")


def test_a_module_runs_like_python_dash_m(warm_worker, tmp_path):
    sock, _ = warm_worker
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "job.py").write_text(
        "import sys, os\nprint(__name__, sys.argv[0].endswith('job.py'), sys.argv[1:], "
        "sys.path[0] == os.getcwd())\n"
    )
    code, out, err = _run(sock, ["-m", "pkg.job", "--a", "b"], tmp_path, {})
    assert code == 0, err
    assert out.strip() == "__main__ True ['--a', 'b'] True"


def test_each_job_starts_from_the_preloaded_state_not_the_last_jobs(warm_worker, tmp_path):
    sock, _ = warm_worker
    script = _script(
        tmp_path,
        "mutate.py",
        """
        import json
        print(getattr(json, "taxi_marker", "clean"))
        json.taxi_marker = "dirty"
        """,
    )
    for _ in range(2):
        code, out, err = _run(sock, [str(script)], tmp_path, {})
        assert (code, out.strip()) == (0, "clean"), err


def test_an_uncaught_exception_exits_1_with_the_traceback(warm_worker, tmp_path):
    sock, _ = warm_worker
    script = _script(tmp_path, "boom.py", "raise RuntimeError('the job broke')\n")
    code, _, err = _run(sock, [str(script)], tmp_path, {})
    assert code == 1
    assert "Traceback" in err
    assert "RuntimeError: the job broke" in err


def test_a_job_whose_caller_goes_away_is_stopped(warm_worker, tmp_path):
    """SIGTERM to the job's process group, also when the caller hangs up right after the job
    was forked (the signal must not reach the worker's own handler in the child): each job
    ends by SIGTERM, none needs the SIGKILL that follows after the grace period."""
    sock, log = warm_worker
    script = _script(tmp_path, "sleep.py", "import time\ntime.sleep(120)\n")
    pids = []
    for _ in range(10):
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        job = warm_client.submit(str(sock), [str(script)], str(tmp_path), {}, out_w, err_w)
        for fd in (out_w, err_w, out_r, err_r):
            os.close(fd)
        job.conn.close()  # the task was killed: the worker stops the job
        pids.append(job.pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        events = [json.loads(line) for line in log.read_text().splitlines()]
        ended = {e["pid"]: e["exit_code"] for e in events if e["event"] == "job_finished"}
        if all(p in ended for p in pids):
            break
        time.sleep(0.1)
    assert {p: ended.get(p) for p in pids} == dict.fromkeys(pids, -signal.SIGTERM.value)


def test_kill_stops_the_job_at_once(warm_worker, tmp_path):
    sock, log = warm_worker
    script = _script(tmp_path, "sleep.py", "import time\ntime.sleep(120)\n")
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    job = warm_client.submit(str(sock), [str(script)], str(tmp_path), {}, out_w, err_w)
    for fd in (out_w, err_w, out_r, err_r):
        os.close(fd)
    job.kill()
    deadline = time.monotonic() + 20
    while f'"pid": {job.pid}, "exit_code": -9' not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-c", "print(1)"], "interpreter option '-c' is not supported"),
        (["-m"], "-m needs a module name"),
    ],
)
def test_requests_it_cannot_run_are_refused_with_the_reason(warm_worker, tmp_path, argv, message):
    sock, _ = warm_worker
    out_r, out_w = os.pipe()
    try:
        with pytest.raises(ValueError, match=message):
            warm_client.submit(str(sock), argv, str(tmp_path), {}, out_w, out_w)
    finally:
        os.close(out_r)
        os.close(out_w)


def test_a_request_without_the_output_streams_is_refused(warm_worker):
    sock, _ = warm_worker
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    conn.connect(str(sock))
    conn.send(json.dumps({"argv": ["x.py"], "cwd": "/", "env": {}}).encode())
    assert "two file descriptors" in json.loads(conn.recv(4096))["error"]
    conn.close()


def test_the_socket_is_for_this_user_only(warm_worker):
    sock, _ = warm_worker
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600


def test_no_worker_means_unavailable_and_the_runner_starts_a_process(tmp_path, monkeypatch):
    with pytest.raises(warm_client.WorkerUnavailableError):
        warm_client.submit(str(tmp_path / "none.sock"), ["x.py"], str(tmp_path), {}, 1, 2)
    monkeypatch.setenv(warm_client.ENV_KEY, f"dags={tmp_path / 'none.sock'}")
    python = str(REPO_ROOT / "dags" / ".venv" / "bin" / "python")
    job = Job("t", "dags", (), module="tests.small_job")
    proc = _start_local(job, [python, "-c", "print('hi')"], tmp_path, {}, root=REPO_ROOT)
    assert proc.warm is False
    assert proc.wait() == 0
    assert proc.stdout.read().strip() == "hi"


def test_worker_for_matches_the_component_venv_only(tmp_path):
    folder = tmp_path / "dbt"
    py = str(folder / ".venv" / "bin" / "python")
    env = {warm_client.ENV_KEY: "dbt=/run/dbt.sock,ml=/run/ml.sock"}
    assert warm_client.worker_for("dbt", [py, "-m", "taxi_dbt.runner"], folder, env) == (
        "/run/dbt.sock"
    )
    assert warm_client.worker_for("dbt", [py, "main.py"], folder, env) == "/run/dbt.sock"
    assert warm_client.worker_for("dbt", ["/usr/bin/python3", "-m", "x"], folder, env) is None
    assert warm_client.worker_for("dbt", [py, "-X", "importtime", "m.py"], folder, env) is None
    assert warm_client.worker_for("spark", [py, "m.py"], folder, env) is None
    assert warm_client.worker_for("dbt", [py, "m.py"], folder, {}) is None
    with pytest.raises(ValueError, match="is not component=/absolute/path"):
        warm_client.parse_workers("dbt:/run/dbt.sock")


def test_a_preloaded_module_that_starts_a_thread_is_refused(tmp_path):
    (tmp_path / "threaded.py").write_text(
        "import threading, time\nthreading.Thread(target=time.sleep, args=(5,), daemon=True)"
        ".start()\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT / 'libs' / 'python'}:{tmp_path}"}
    proc = subprocess.run(
        [
            sys.executable,
            *("-m", "taxi_common.warmworker", "--socket", str(tmp_path / "s")),
            *("--preload", "threaded"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "importing threaded started threads" in proc.stderr
    assert not (tmp_path / "s").exists()
