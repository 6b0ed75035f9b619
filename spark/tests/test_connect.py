"""The local runtime's Spark Connect mode: ``SPARK_REMOTE`` in :func:`taxi_spark.session.build`
and the long-lived server of ``python -m taxi_spark.connect_server``.

The server is a real one (pyspark's own Connect plugin in a local JVM) on a loopback port; the
jobs run against it as separate processes, exactly as the local runner starts them, since a
process that holds a classic SparkSession (this test session's) cannot also be a Connect client.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from conftest import file_uri
from taxi_spark import connect_server, session, testdata
from taxi_spark.errors import ConfigError

SRC = Path(__file__).resolve().parents[1] / "src"
LIBS = Path(__file__).resolve().parents[2] / "libs" / "python"
# Loopback ports of this suite (keep within the range the test machine assigns).
SERVER_PORT = int(os.environ.get("TAXI_TEST_CONNECT_PORT", "28980"))
TAKEN_PORT = SERVER_PORT + 1


def job_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE",)}
    env.update(PYTHONPATH=f"{SRC}{os.pathsep}{LIBS}", GX_ANALYTICS_ENABLED="False", **extra)
    return env


def run_job(module: str, args: list[str], env: dict[str, str], timeout: int = 600):
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def events(stderr: str, name: str) -> list[dict]:
    out = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if e.get("event") == name:
                out.append(e)
    return out


# --- SPARK_REMOTE -------------------------------------------------------------------------------
def test_no_spark_remote_means_a_session_of_its_own():
    assert session.remote_url("local", {}) is None
    assert session.remote_url("local", {"SPARK_REMOTE": "  "}) is None
    assert session.remote_url("kubernetes", {}) is None


def test_spark_remote_is_used_on_the_local_runtime():
    url = "sc://localhost:15002"
    assert session.remote_url("local", {"SPARK_REMOTE": url}) == url


def test_spark_remote_is_refused_on_kubernetes():
    with pytest.raises(ConfigError, match="local runtime only"):
        session.remote_url("kubernetes", {"SPARK_REMOTE": "sc://localhost:15002"})


@pytest.mark.parametrize("url", ["local", "http://localhost:15002", "sc://"])
def test_spark_remote_must_be_a_connect_url(url):
    with pytest.raises(ConfigError, match=r"expected sc://HOST:PORT"):
        session.remote_url("local", {"SPARK_REMOTE": url})


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("sc://localhost:28980", ("localhost", 28980)),
        ("sc://127.0.0.1:28980/;user_id=x", ("127.0.0.1", 28980)),
        ("sc://localhost", ("localhost", 15002)),
        ("sc://[::1]:28980", ("::1", 28980)),
    ],
)
def test_connect_address(url, address):
    assert session.connect_address(url) == address


def test_no_server_listening_fails_fast_and_says_what_to_do(monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("SPARK_REMOTE", f"sc://localhost:{port}")
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"no Spark Connect server listens at .*connect_server"):
        session._require_listening(f"sc://localhost:{port}", timeout=1)
    assert time.monotonic() - started < 10


def test_a_client_cannot_set_server_settings(monkeypatch):
    monkeypatch.setenv("SPARK_REMOTE", "sc://localhost:1")
    with pytest.raises(ConfigError, match=r"spark\.driver\.memory cannot be set by a Spark"):
        session.build("t", "local", extra={"spark.driver.memory": "1g"})


def test_server_settings_are_the_local_runtimes():
    conf = connect_server.server_conf("127.0.0.1", 15002, ["spark.driver.memory=3g"])
    assert conf["spark.plugins"] == connect_server.PLUGIN
    assert conf["spark.connect.grpc.binding.port"] == "15002"
    assert conf["spark.connect.grpc.binding.address"] == "127.0.0.1"
    assert conf["spark.master"] == session.local_conf()["spark.master"]
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.driver.memory"] == "3g"
    # The local runtime's JVM options, and C1-only compilation for the server alone.
    java = conf["spark.driver.extraJavaOptions"].split()
    assert java == [
        *session.local_conf()["spark.driver.extraJavaOptions"].split(),
        "-XX:TieredStopAtLevel=1",
    ]
    assert "TieredStopAtLevel" not in session.local_conf()["spark.driver.extraJavaOptions"]
    own = connect_server.server_conf("127.0.0.1", 15002, ["spark.driver.extraJavaOptions=-Dx=1"])
    assert own["spark.driver.extraJavaOptions"] == "-Dx=1"
    with pytest.raises(ConfigError, match="is not KEY=VALUE"):
        connect_server.server_conf("127.0.0.1", 15002, ["spark.driver.memory"])


def test_server_refuses_a_taken_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", TAKEN_PORT))
        s.listen()
        started = time.monotonic()
        proc = run_job("taxi_spark.connect_server", ["--port", str(TAKEN_PORT)], job_env(), 120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert events(proc.stderr, "connect_server_port_taken"), proc.stderr[-2000:]
    assert time.monotonic() - started < 60  # no JVM was started to find out


# --- a real server and jobs as its clients -----------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    token = secrets.token_hex(16)
    log = tmp_path_factory.mktemp("connect") / "server.log"
    env = job_env(SPARK_CONNECT_AUTHENTICATE_TOKEN=token, SPARK_DRIVER_MEMORY="1g")
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "taxi_spark.connect_server", "--port", str(SERVER_PORT)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 300
    # Ready, then warmed up (a Parquet round trip on the server's own session).
    while '"connect_server_warmed"' not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the Connect server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    yield {"url": f"sc://localhost:{SERVER_PORT}", "token": token, "proc": proc, "log": log}
    if proc.poll() is None:
        proc.terminate()
        proc.wait(60)


@pytest.mark.spark
def test_the_warm_up_ran_on_the_server_and_as_its_client(server):
    """Both warm-ups succeeded: the classic one and the one through Connect (with the token),
    which the first task would otherwise pay for."""
    events = [json.loads(x) for x in server["log"].read_text().splitlines() if x.startswith("{")]
    names = [e["event"] for e in events]
    assert "connect_server_warm_up_failed" not in names, events
    warmed = next(e for e in events if e["event"] == "connect_server_warmed")
    assert 0 < warmed["classic_seconds"] < warmed["seconds"]


@pytest.mark.spark
def test_validate_and_load_run_as_clients(server, tmp_path):
    testdata.write_months("file://" + str(tmp_path / "in"), [(2023, 1)], 2000, seed=3)
    uri = file_uri(tmp_path / "in" / "yellow_tripdata_2023-01.parquet")
    env = job_env(
        SPARK_REMOTE=server["url"],
        SPARK_CONNECT_AUTHENTICATE_TOKEN=server["token"],
        PLATFORM_RUNTIME="local",
        PLATFORM_ENV="test",
        WAREHOUSE="duckdb",
        WAREHOUSE_PATH=str(tmp_path / "wh.duckdb"),
        BQ_DATASET_RAW="raw",
        DOCS_URI=file_uri(tmp_path / "docs"),
    )
    proc = run_job("taxi_spark.jobs.validate", ["--uri", uri], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (ready,) = events(proc.stderr, "spark_session_ready")
    assert ready["mode"] == "connect"
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["passed"] is True
    assert summary["rows"] == 2000
    assert (tmp_path / "docs" / "data-docs" / "yellow_tripdata_2023-01" / "index.html").is_file()

    proc = run_job("taxi_spark.jobs.batch", ["--uri", uri], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert events(proc.stderr, "spark_session_ready")[0]["mode"] == "connect"
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        loaded = con.sql("select count(*) from raw.trips").fetchone()[0]
        quarantined = con.sql("select count(*) from raw.trips_quarantine").fetchone()[0]
    assert loaded + quarantined == 2000
    assert loaded > 0


@pytest.mark.spark
def test_a_client_without_the_token_is_refused(server, tmp_path):
    env = job_env(
        SPARK_REMOTE=server["url"],
        SPARK_CONNECT_AUTHENTICATE_TOKEN="not-" + server["token"],
        PLATFORM_RUNTIME="local",
    )
    code = "from taxi_spark import session; session.build('t', 'local').range(1).count()"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode != 0
    assert f"Spark Connect server at SPARK_REMOTE={server['url']} did not answer" in proc.stderr


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc's parent links)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@pytest.mark.spark
def test_the_servers_jvm_compiles_with_c1_only(server):
    """The option reaches the JVM spark-submit starts (a conf key the launcher ignored would
    leave C2 on), and the JVM runs with it: its own flag table says so."""
    drivers = []
    for pid in descendants(server["proc"].pid):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"org.apache.spark.deploy.SparkSubmit" in argv:
            drivers.append((pid, argv))
    assert len(drivers) == 1, drivers
    pid, argv = drivers[0]
    assert b"-XX:TieredStopAtLevel=1" in argv
    java = Path(os.readlink(f"/proc/{pid}/exe"))
    flags = subprocess.run(
        [str(java.parent / "jcmd"), str(pid), "VM.flags"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "-XX:TieredStopAtLevel=1" in flags, flags


@pytest.mark.spark
def test_server_stops_on_sigterm_and_frees_its_port(server):
    proc = server["proc"]
    assert proc.poll() is None, "the server died during the tests"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(120) == 0, server["log"].read_text()[-3000:]
    assert '"connect_server_stopping"' in server["log"].read_text()
    assert not connect_server.port_taken("127.0.0.1", SERVER_PORT)
