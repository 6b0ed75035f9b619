"""The local runner's command lines: a SparkApplication through ``spark-submit`` (a JVM of its
own), or, when the Airflow process has ``SPARK_REMOTE``, its main file as a client of the local
Spark Connect server; ``SPARK_REMOTE`` and its token reach the Spark component's jobs only."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from common import datasets, jobs
from common.runners import local_invocation, render
from tests.conftest import REPO_ROOT

YELLOW = datasets.get("yellow")
RUN_ID = "manual__2024-01-01T00:00:00+00:00"
TOKEN = "a-test-token"
STAGED = "file:///tmp/staged/yellow_tripdata_2024-01.parquet"


def _job(task_id: str) -> jobs.Job:
    job = next(j for j in jobs.batch_jobs(YELLOW) if j.task_id == task_id)
    return job.local or job


def _invocation(task_id: str, args: list[str], **env: str):
    job = _job(task_id)
    base = {"PATH": "/usr/bin:/bin", "PLATFORM_RUNTIME": "local", "STAGING_URI": "file:///tmp/s"}
    base.update(env)
    manifest = render(job, args, dag_id="batch", run_id=RUN_ID, env=base, local=True)
    return local_invocation(job, manifest, root=REPO_ROOT, base_env=base)


def test_spark_job_without_spark_remote_runs_spark_submit():
    argv, cwd, env = _invocation("validate", ["--uri", STAGED])
    assert Path(argv[0]).name == "spark-submit"
    assert argv[argv.index("--master") + 1] == "local[2]"
    assert argv[-3:] == [
        str(REPO_ROOT / "spark" / "src" / "taxi_spark" / "jobs" / "validate.py"),
        "--uri",
        STAGED,
    ]
    assert cwd == REPO_ROOT / "spark"
    assert "SPARK_REMOTE" not in env


@pytest.mark.parametrize("task_id", ["validate", "load"])
def test_spark_job_with_spark_remote_is_a_connect_client(task_id):
    url = "sc://localhost:28986"
    argv, cwd, env = _invocation(
        task_id, ["--uri", STAGED], SPARK_REMOTE=url, SPARK_CONNECT_AUTHENTICATE_TOKEN=TOKEN
    )
    main = "validate.py" if task_id == "validate" else "batch.py"
    assert argv[:2] == [
        str(REPO_ROOT / "spark" / ".venv" / "bin" / "python"),
        str(REPO_ROOT / "spark" / "src" / "taxi_spark" / "jobs" / main),
    ]
    assert argv[2:] == ["--uri", STAGED]
    assert "spark-submit" not in " ".join(argv)
    assert cwd == REPO_ROOT / "spark"
    assert env["SPARK_REMOTE"] == url
    assert env["SPARK_CONNECT_AUTHENTICATE_TOKEN"] == TOKEN
    assert env["PYTHONPATH"].split(":") == [
        str(REPO_ROOT / "spark" / "src"),
        str(REPO_ROOT / "libs" / "python"),
    ]
    assert env["PLATFORM_RUNTIME"] == "local"


@pytest.mark.parametrize("task_id", ["dbt_build", "retrain", "publish_docs"])
def test_other_components_never_get_the_connect_address_or_token(task_id):
    _, _, env = _invocation(
        task_id, [], SPARK_REMOTE="sc://localhost:28986", SPARK_CONNECT_AUTHENTICATE_TOKEN=TOKEN
    )
    assert "SPARK_REMOTE" not in env
    assert "SPARK_CONNECT_AUTHENTICATE_TOKEN" not in env


def test_the_client_command_line_runs_the_real_job_file(tmp_path):
    """The command line as the runner builds it, run for real: with no server on the port the
    job itself says so and exits 2 (no JVM, no minutes of gRPC retries)."""
    if not (REPO_ROOT / "spark" / ".venv" / "bin" / "python").exists():
        pytest.skip("spark/.venv is not prepared")
    argv, cwd, env = _invocation(
        "validate",
        ["--uri", "file://" + str(tmp_path / "yellow_tripdata_2024-01.parquet")],
        SPARK_REMOTE="sc://localhost:28985",
        DOCS_URI="file://" + str(tmp_path / "docs"),
    )
    (tmp_path / "yellow_tripdata_2024-01.parquet").write_bytes(b"")
    proc = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "no Spark Connect server listens at SPARK_REMOTE=sc://localhost:28985" in proc.stderr
