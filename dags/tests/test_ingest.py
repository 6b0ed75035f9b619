"""The ingest DAG (issue 22) on a real Airflow (dag.test(), SQLite) under the local runtime: the
real download job (spark/.venv) against a loopback HTTP server that plays the TLC website
(a free port), into a file:// landing folder. A month that is not published yet is rescheduled,
then downloaded; past the patience the run fails; an unchanged month is not rewritten."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from common import datasets, ingest, pipeline_env
from taxi_testing.emulators import free_port
from tests.conftest import REPO_ROOT

PORT = free_port()
BASE = f"http://127.0.0.1:{PORT}/trip-data"
SPARK_PYTHON = REPO_ROOT / "spark" / ".venv" / "bin" / "python"


def test_plan_values_month_urls_and_deadline():
    yellow = datasets.get("yellow")
    env = pipeline_env.read(
        {"S3_LANDING_BUCKET": "landing-bucket", "INGEST_SOURCE_URL": "http://mirror/tlc/"}
    )
    started = datetime(2024, 4, 2, tzinfo=timezone.utc)
    values = ingest.plan(yellow, datetime(2024, 3, 1, 6, tzinfo=timezone.utc), started, env)
    assert values["month"] == "2024-03"
    assert values["source_url"] == "http://mirror/tlc/yellow_tripdata_2024-03.parquet"
    assert values["landing_uri"] == "s3://landing-bucket/trip data/yellow_tripdata_2024-03.parquet"
    # expected 75 days after March ends (June 15), then 60 days of patience
    assert values["expected_publication"].startswith("2024-06-15")
    assert values["wait_until"].startswith("2024-08-14")
    assert values["poke_seconds"] == 360 * 60
    # A catch-up run long after the expected date still gets the patience from its start.
    late = ingest.plan(
        yellow,
        datetime(2024, 3, 1, 6, tzinfo=timezone.utc),
        datetime(2026, 1, 1, tzinfo=timezone.utc),
        env,
    )
    assert late["wait_until"].startswith("2026-03-02")


def test_plan_names_missing_landing_and_bad_poke():
    yellow = datasets.get("yellow")
    now = datetime.now(timezone.utc)
    with pytest.raises(pipeline_env.PipelineEnvError, match="S3_LANDING_BUCKET is not set"):
        ingest.plan(yellow, now, now, pipeline_env.read({}))
    env = pipeline_env.read({"S3_LANDING_BUCKET": "b", "INGEST_POKE_SECONDS": "soon"})
    with pytest.raises(pipeline_env.PipelineEnvError, match="INGEST_POKE_SECONDS='soon'"):
        ingest.plan(yellow, now, now, env)


def test_min_bytes_default_override_and_bad_value():
    yellow = datasets.get("yellow")
    now = datetime.now(timezone.utc)
    base = {"S3_LANDING_BUCKET": "b"}
    assert ingest.plan(yellow, now, now, pipeline_env.read(base))["min_bytes"] == 65536
    small = pipeline_env.read({**base, "INGEST_MIN_BYTES": "1024"})
    assert ingest.plan(yellow, now, now, small)["min_bytes"] == 1024
    for bad in ("0", "-1", "1k", str(yellow.ingest.max_bytes + 1)):
        env = pipeline_env.read({**base, "INGEST_MIN_BYTES": bad})
        with pytest.raises(pipeline_env.PipelineEnvError, match=f"INGEST_MIN_BYTES='{bad}'"):
            ingest.plan(yellow, now, now, env)


def _scheduled_months(dag) -> list[str]:
    """Months of the runs the scheduler would create: the DAG as the scheduler sees it (serialized
    and read back), its core timetable asked for one run after another."""
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import TimeRestriction

    seen = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    out: list[str] = []
    restriction = TimeRestriction(seen.start_date, seen.end_date, catchup=True)
    last = None
    for _ in range(60):
        info = seen.timetable.next_dagrun_info(
            last_automated_data_interval=last, restriction=restriction
        )
        if info is None:
            break
        out.append(ingest.month_of(info.data_interval.start))
        last = info.data_interval
    return out


def test_months_window_bounds_the_schedule(monkeypatch):
    yellow = datasets.get("yellow")
    monkeypatch.setenv("INGEST_MONTHS", "2022-12..2023-02")
    dag = ingest.ingest_dag(yellow, doc_md="x", runtime="local")
    assert _scheduled_months(dag) == ["2022-12", "2023-01", "2023-02"]
    monkeypatch.setenv("INGEST_MONTHS", "2023-05")
    dag = ingest.ingest_dag(yellow, doc_md="x", runtime="local")
    assert _scheduled_months(dag) == ["2023-05"]
    monkeypatch.delenv("INGEST_MONTHS")
    dag = ingest.ingest_dag(yellow, doc_md="x", runtime="local")
    assert dag.end_date is None
    assert _scheduled_months(dag)[:2] == ["2024-01", "2024-02"]
    for bad in ("2023-13", "2023-02..2023-01", "2023", "2023-01..", "soon"):
        monkeypatch.setenv("INGEST_MONTHS", bad)
        with pytest.raises(pipeline_env.PipelineEnvError, match="INGEST_MONTHS="):
            ingest.ingest_dag(yellow, doc_md="x", runtime="local")


# --- dag.test() against the loopback publisher -------------------------------------------------
class Site:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.not_yet: dict[str, int] = {}  # path -> 404 answers left
        self.requests: list[str] = []


@pytest.fixture(scope="module")
def site():
    s = Site()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            s.requests.append(self.path)
            body = s.files.get(self.path)
            if s.not_yet.get(self.path, 0) > 0 or body is None:
                s.not_yet[self.path] = s.not_yet.get(self.path, 0) - 1
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", '"e1"')
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield s
    server.shutdown()
    server.server_close()


def month_file(tmp_path: Path, month: str) -> bytes:
    out = tmp_path / "gen"
    subprocess.run(
        [
            str(SPARK_PYTHON),
            "-m",
            "taxi_spark.testdata",
            "--out",
            out.as_uri(),
            "--months",
            month,
            "--rows",
            "3000",
        ],
        check=True,
        cwd=REPO_ROOT / "spark",
        env={"PYTHONPATH": f"src:{REPO_ROOT / 'libs' / 'python'}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
    )
    return (out / f"yellow_tripdata_{month}.parquet").read_bytes()


@pytest.fixture
def local_ingest(tmp_path, monkeypatch):
    monkeypatch.setenv("PLATFORM_RUNTIME", "local")
    monkeypatch.setenv("S3_LANDING_BUCKET", (tmp_path / "landing").as_uri())
    monkeypatch.setenv("INGEST_SOURCE_URL", BASE)
    monkeypatch.setenv("INGEST_POKE_SECONDS", "1")
    return tmp_path


class DagTestTimeoutError(Exception):
    pass


def bounded_test(dag, logical_date: datetime, seconds: int = 240):
    """dag.test() with a bound: a task that keeps rescheduling must not hang the suite."""

    def alarm(signum, frame):
        raise DagTestTimeoutError(f"dag.test() of {dag.dag_id} did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        return dag.test(logical_date=logical_date)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def _download_events(run_id: str) -> list[str]:
    """The state changes Airflow logged for the run's ``download`` task, in order."""
    from airflow.models.log import Log
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(Log.event).filter(Log.run_id == run_id, Log.task_id == "download")
        return [event for (event,) in rows.order_by(Log.id)]


def yellow_with(**settings: int) -> datasets.Dataset:
    """The shipped yellow entry with some ``ingest:`` settings replaced."""
    raw = (REPO_ROOT / "dags" / "datasets.yaml").read_text()
    for key, value in settings.items():
        raw, n = re.subn(rf"(?m)^  {key}: .*$", f"  {key}: {value}", raw)
        assert n == 1, key
    return next(d for d in datasets.parse(raw) if d.name == "yellow")


@pytest.mark.airflow_db
def test_not_yet_then_published_then_unchanged(airflow_db, local_ingest, site):
    tmp = local_ingest
    body = month_file(tmp, "2024-01")
    path = "/trip-data/yellow_tripdata_2024-01.parquet"
    site.files[path] = body
    site.not_yet[path] = 2  # two "not yet" answers, then published
    dag = ingest.ingest_dag(datasets.get("yellow"), doc_md="### ingest (test)", runtime="local")
    # The run whose data interval is February 2024 (it runs on March 1).
    logical = datetime(2024, 2, 1, 6, tzinfo=timezone.utc)
    run = bounded_test(dag, logical)
    assert run.state == "success", _states(run)
    assert site.requests.count(path) == 3
    landed = tmp / "landing" / "trip data" / "yellow_tripdata_2024-01.parquet"
    assert landed.read_bytes() == body
    (ti,) = [t for t in run.get_task_instances() if t.task_id == "download"]
    assert ti.try_number == 1  # waited, not retried
    # Each "not yet" was a deferral (a reschedule logs no "deferred"): see common.ingest.
    assert _download_events(run.run_id) == [
        "running",
        "deferred",
        "running",
        "deferred",
        "running",
        "success",
    ]
    mtime = landed.stat().st_mtime_ns

    # Again (a cleared task, a re-run): same content → nothing written.
    dag2 = ingest.ingest_dag(datasets.get("yellow"), doc_md="### ingest (test)", runtime="local")
    run = bounded_test(dag2, logical + timedelta(seconds=1))
    assert run.state == "success", _states(run)
    assert landed.stat().st_mtime_ns == mtime


@pytest.mark.airflow_db
def test_past_the_patience_the_run_fails(airflow_db, local_ingest, site):
    yellow = yellow_with(patience_days=0, publication_lag_days=0)
    path = "/trip-data/yellow_tripdata_2024-05.parquet"
    site.files.pop(path, None)
    dag = ingest.ingest_dag(yellow, doc_md="### ingest (test)", runtime="local")
    run = bounded_test(dag, datetime(2024, 6, 1, 6, tzinfo=timezone.utc), seconds=120)
    assert run.state == "failed"
    assert _states(run) == {"plan": "success", "download": "failed"}
    assert site.requests.count(path) == 1  # failed for good: no blind retries
    assert not (local_ingest / "landing").exists()


class _PlanTI:
    """The task instance a runner sees: the plan's values as XCom, pushes recorded."""

    def __init__(self, values: dict):
        self.values, self.pushed, self.try_number = values, [], 1

    def xcom_pull(self, task_ids: str):
        assert task_ids == "plan"
        return self.values

    def xcom_push(self, key: str, value):
        self.pushed.append((key, value))


def test_cluster_download_defers_to_a_datetime_trigger_and_asks_again(local_ingest):
    """The cluster's download task (no cluster here, so its Job is replaced by the exit codes it
    would report; the local one goes through real Airflow runs above): exit code 3 defers to a
    DateTimeTrigger one poke later; resuming asks the publisher again; past the deadline it
    fails for good."""
    from airflow.providers.standard.triggers.temporal import DateTimeTrigger
    from airflow.sdk.exceptions import TaskDeferred

    from common.jobs import ingest_jobs
    from common.runners import JobFailedError

    answers = [3, 3]

    class Publisher(ingest.KubernetesIngestDownload):
        def run(self, context):
            code = answers.pop(0) if answers else 0
            if code:
                raise JobFailedError("HTTP 403", exit_code=code)
            return {"action": "uploaded"}

    yellow = datasets.get("yellow")
    (job,) = ingest_jobs(yellow)
    op = Publisher(task_id=job.task_id, job=job, dag_id=yellow.ingest_dag_id)
    now = datetime.now(timezone.utc)
    values = ingest.plan(
        yellow, datetime(2024, 1, 1, tzinfo=timezone.utc), now, pipeline_env.read()
    )
    ti = _PlanTI(values)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({"ti": ti})
    trigger = deferred.value.trigger
    assert isinstance(trigger, DateTimeTrigger)
    assert deferred.value.method_name == ingest.ASK_AGAIN
    wait = (trigger.moment - now).total_seconds()
    assert 1 <= wait < 5, wait  # INGEST_POKE_SECONDS=1 (local_ingest)
    with pytest.raises(TaskDeferred):
        getattr(op, deferred.value.method_name)({"ti": ti}, event=None)
    assert getattr(op, ingest.ASK_AGAIN)({"ti": ti}, event=None) == {"action": "uploaded"}

    # Past the deadline: no further wait, the task fails for good naming the month.
    from airflow.sdk.exceptions import AirflowFailException

    answers.append(3)
    ti.values = {**values, "wait_until": (now - timedelta(seconds=1)).isoformat()}
    with pytest.raises(AirflowFailException, match="2024-01 is still not published"):
        op.execute({"ti": ti})
