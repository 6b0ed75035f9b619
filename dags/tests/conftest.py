"""Test settings: Airflow runs for real, on a SQLite metadata DB in a temporary AIRFLOW_HOME.

The environment is set before anything imports Airflow (pytest loads this file first); the
temporary folder is removed at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="taxi-dags-airflow-"))
DAGS_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = DAGS_DIR.parent

os.environ.update(
    {
        "AIRFLOW_HOME": str(_HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_HOME}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PLATFORM_RUNTIME": "local",
    }
)
for key in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST"):
    os.environ.pop(key, None)

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db():
    """Create the metadata DB once per session (only for tests that run DAGs)."""
    from airflow.utils import db

    db.resetdb()
    return _HOME / "airflow.db"


@pytest.fixture
def local_platform(tmp_path, monkeypatch):
    """The local runtime's pipeline env on folders below ``tmp_path`` (dag.test() of batch)."""
    staging = tmp_path / "staging"
    monkeypatch.setenv("PLATFORM_RUNTIME", "local")
    monkeypatch.setenv("STAGING_URI", staging.as_uri())
    monkeypatch.setenv("S3_LANDING_BUCKET", (tmp_path / "landing").as_uri())
    return tmp_path


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture
def warm_worker(tmp_path_factory):
    """A warm worker (libs/python/taxi_common/warmworker.py) of this venv, as ``npm start``
    runs one per component: yields ``(socket path, log path)``; stopped with SIGTERM after."""
    import subprocess
    import sys
    import time

    folder = tmp_path_factory.mktemp("warm")
    sock, log = folder / "w.sock", folder / "worker.log"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "libs" / "python")}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "taxi_common.warmworker", "--socket", str(sock), "--name", "dags"),
                *("--preload", "json,csv", "--kill-grace", "2"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while not sock.exists():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the warm worker did not start in 60 s"
        time.sleep(0.05)
    yield sock, log
    proc.terminate()
    proc.wait(30)
