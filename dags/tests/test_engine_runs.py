"""Remote engines with the providers' real code against loopback stand-ins of their APIs.

The dbt Cloud and Databricks providers' operators, hooks and triggers run unchanged (through
:mod:`common.engine_operators`) against :mod:`tests.engine_stand_ins` (HTTPS on 127.0.0.1).
``dag.test()`` runs the batch DAG of a dataset configured for each engine (an extra registry
in a temporary folder; the in-cluster steps are small real local jobs), with the triggers
run inline as Airflow's test mode does. The cancel paths that need a task killed mid-run are
driven through the task's own methods with a recording XCom holder (the run ids the providers
push), against the same stand-ins.
"""

from __future__ import annotations

import asyncio
import json
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from common import datasets, engine_operators, factory
from common.engine_tasks import RemoteEngineTask
from common.engines import Engine
from common.jobs import Job, batch_jobs
from taxi_testing.emulators import free_port
from tests.engine_stand_ins import DBT_CANCELLED, StandIn

pytestmark = pytest.mark.airflow_db

PORT = free_port()
MONTH_FILE = "yellow_tripdata_2024-01.parquet"
DBT = "transform:\n  engine: dbt-cloud\n  account_id: 70\n  job_id: 123\n"
DBX_JOB = "load:\n  engine: databricks\n  job_id: 42\n"
DBX_TASK = (
    "transform:\n  engine: databricks\n  task:\n"
    "    notebook_task: {notebook_path: /Repos/taxi/transform}\n"
    "    existing_cluster_id: 0101-stand-in\n"
)


@pytest.fixture(scope="session")
def cert_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("stand-in-tls")


@pytest.fixture
def stand_in(cert_folder, monkeypatch):
    server = StandIn(PORT, cert_folder).start()
    server.trust(monkeypatch)
    host = f"127.0.0.1:{PORT}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_DBT_CLOUD_DEFAULT",
        json.dumps({"conn_type": "dbt_cloud", "host": host, "login": "70", "password": "t0k"}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_DATABRICKS_DEFAULT",
        json.dumps(
            {"conn_type": "databricks", "host": "127.0.0.1", "port": PORT, "password": "dapi"}
        ),
    )
    monkeypatch.setattr(engine_operators, "POLL_SECONDS", 0.2)
    monkeypatch.setattr(engine_operators, "RETRY_DELAY", 0.1)
    yield server
    server.stop()


@pytest.fixture
def platform(airflow_db, tmp_path, monkeypatch):
    monkeypatch.setenv("PLATFORM_RUNTIME", "local")
    monkeypatch.setenv("STAGING_URI", (tmp_path / "staging").as_uri())
    monkeypatch.setenv("S3_LANDING_BUCKET", (tmp_path / "landing").as_uri())
    source = tmp_path / "landing" / "trip data" / MONTH_FILE
    source.parent.mkdir(parents=True)
    source.write_bytes(b"PAR1 stand-in PAR1")
    return tmp_path


def dataset_with(folder: Path, engines_yaml: str) -> datasets.Dataset:
    registry = folder / "datasets.yaml"
    registry.write_text(
        textwrap.dedent(
            """\
            datasets:
              - name: yellow
                file_prefix: yellow_tripdata_
                landing_prefix: "trip data/"
                primary: true
                description: Yellow on an external engine.
            """
        )
        + textwrap.indent(engines_yaml, "    ")
    )
    return datasets.parse(registry.read_text(), source=str(registry))[0]


def small_jobs(dataset: datasets.Dataset, out: Path) -> tuple[Job, ...]:
    """The real batch jobs as small local jobs (tests.small_job), each after the previous
    in-cluster one (the remote steps write no record)."""
    replaced = {"load"} if dataset.load.remote else set()
    replaced |= {"dbt_build"} if dataset.transform.remote else set()
    jobs, previous = [], ""
    for job in batch_jobs(dataset):
        run = job.local or job
        jobs.append(
            Job(
                job.task_id,
                "dags",
                ("--name", job.task_id, "--after", previous, "--", *run.args),
                module="tests.small_job",
                optional_args=run.optional_args,
                env={"SMALL_JOB_OUT": str(out)},
            )
        )
        if job.task_id not in replaced:
            previous = job.task_id
    return tuple(jobs)


def run_batch(dataset, platform, **task_overrides):
    dag = factory.batch_dag(
        dataset, doc_md="batch", jobs=small_jobs(dataset, platform / "records"), runtime="local"
    )
    for task in dag.tasks:
        task.retries = 0  # a failure shows at once (retry behaviour is Airflow's own)
    for task_id, attrs in task_overrides.items():
        for k, v in attrs.items():
            setattr(dag.get_task(task_id), k, v)
    source = platform / "landing" / "trip data" / MONTH_FILE
    return dag, dag.test(run_conf={"uri": source.as_uri()})


def states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def xcom(run, task_id: str, key: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key=key)
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)


# --- dag.test() per engine -----------------------------------------------------------------------
def test_dbt_cloud_transform_runs_with_the_month_and_retries_429_and_5xx(stand_in, platform):
    d = dataset_with(platform, DBT)
    stand_in.faults = [429, 503]  # the first two API calls (the run's creation) fail
    dag, run = run_batch(d, platform)
    assert run.state == "success", states(run)
    assert [t.task_id for t in dag.tasks] == [
        "check_conf",
        "copy_to_staging",
        "validate",
        "load",
        "transform_dbt_cloud",
        "retrain",
        "publish_docs",
    ]
    creates = stand_in.calls("POST", r"/accounts/70/jobs/123/run/$")
    assert [c["status"] for c in creates] == [429, 503, 200]
    assert len(stand_in.runs) == 1  # retried, not duplicated
    (remote,) = stand_in.runs.values()
    staged = (platform / "staging" / "yellow" / MONTH_FILE).as_uri()
    (step,) = remote.request["steps_override"]
    assert step.startswith("dbt build --vars '")
    assert json.loads(step.split("--vars ", 1)[1].strip("'")) == {
        "source_month": "2024-01",
        "file_uri": staged,
    }
    assert "month 2024-01" in remote.request["cause"]
    assert remote.reads >= 3  # queued → running → success, polled by the trigger
    assert xcom(run, "transform_dbt_cloud", "job_run_url") == stand_in.run_url(remote)
    assert all(c["auth"] for c in stand_in.requests)


def test_dbt_cloud_failure_fails_the_task_with_the_run_url_and_error(stand_in, platform, capfd):
    d = dataset_with(platform, DBT)
    stand_in.outcome = "failure"
    _, run = run_batch(d, platform)
    out, err = capfd.readouterr()
    log = out + err
    st = states(run)
    assert st["transform_dbt_cloud"] == "failed"
    assert st["retrain"] == "upstream_failed"
    (remote,) = stand_in.runs.values()
    assert f"transform_dbt_cloud: dbt Cloud run {remote.run_id} failed" in log
    assert f"Run: {stand_in.run_url(remote)}" in log
    assert "Database Error in model fare_features" in log


def test_databricks_run_now_load_gets_job_parameters(stand_in, platform):
    d = dataset_with(platform, DBX_JOB)
    stand_in.faults = [500]
    dag, run = run_batch(d, platform)
    assert run.state == "success", states(run)
    assert "load_databricks" in dag.task_ids
    assert "load" not in dag.task_ids
    (remote,) = stand_in.runs.values()
    staged = (platform / "staging" / "yellow" / MONTH_FILE).as_uri()
    assert remote.job_id == 42
    assert remote.request["job_parameters"] == {"month": "2024-01", "file_uri": staged}
    assert len(remote.request["idempotency_token"]) == 48
    assert remote.reads >= 3
    assert xcom(run, "load_databricks", "run_page_url") == stand_in.run_url(remote)


def test_databricks_submit_run_transform_gets_notebook_parameters(stand_in, platform):
    d = dataset_with(platform, DBX_TASK)
    _, run = run_batch(d, platform)
    assert run.state == "success", states(run)
    (remote,) = stand_in.runs.values()
    (task,) = remote.request["tasks"]
    staged = (platform / "staging" / "yellow" / MONTH_FILE).as_uri()
    assert task["notebook_task"] == {
        "notebook_path": "/Repos/taxi/transform",
        "base_parameters": {"month": "2024-01", "file_uri": staged},
    }
    assert task["existing_cluster_id"] == "0101-stand-in"
    assert remote.request["run_name"] == "batch-transform_databricks-2024-01"
    # The registry entry itself is untouched (the payload is a copy).
    assert "base_parameters" not in d.transform.task["notebook_task"]


def test_databricks_failure_fails_the_task_with_the_run_url_and_error(stand_in, platform, capfd):
    d = dataset_with(platform, DBX_JOB)
    stand_in.outcome = "failure"
    _, run = run_batch(d, platform)
    out, err = capfd.readouterr()
    log = out + err
    assert states(run)["load_databricks"] == "failed"
    (remote,) = stand_in.runs.values()
    assert f"load_databricks: Databricks run {remote.run_id} failed" in log
    assert f"Run: {stand_in.run_url(remote)}" in log
    assert "stand-in: task run 10011 failed: bad month file" in log


def test_the_dbt_cloud_deadline_cancels_the_run(stand_in, platform, capfd):
    d = dataset_with(platform, DBT)
    stand_in.outcome = "hang"
    _, run = run_batch(d, platform, transform_dbt_cloud={"execution_timeout": timedelta(seconds=2)})
    assert states(run)["transform_dbt_cloud"] == "failed"
    (remote,) = stand_in.runs.values()
    assert remote.cancelled
    assert stand_in.calls("POST", r"/runs/\d+/cancel/$")
    out, err = capfd.readouterr()
    assert f"Job run {remote.run_id} has timed out" in out + err


# --- cancel on clear / kill / trigger timeout --------------------------------------------------
class XComHolder:
    """What the providers use of the task instance here: try number and XCom push/pull."""

    def __init__(self) -> None:
        self.try_number = 1
        self.values: dict[str, object] = {}

    def xcom_push(self, key, value):
        self.values[key] = value

    def xcom_pull(self, task_ids=None, key="return_value"):
        return self.values.get(key)


def remote_task(engine: Engine) -> tuple[RemoteEngineTask, dict]:
    task = RemoteEngineTask(task_id="transform_x", step="transform", engine=engine, dag_id="batch")
    task.month, task.file_uri = "2024-01", "file:///staging/yellow/" + MONTH_FILE
    return task, {"ti": XComHolder(), "run_id": "manual__1"}


DBT_ENGINE = Engine("dbt-cloud", "dbt_cloud_default", job_id=123, account_id=70)
DBX_ENGINE = Engine("databricks", "databricks_default", job_id=42)


@pytest.mark.parametrize("engine", [DBT_ENGINE, DBX_ENGINE], ids=["dbt-cloud", "databricks"])
def test_worker_kill_cancels_the_run(stand_in, engine):
    from airflow.sdk.exceptions import TaskDeferred

    stand_in.outcome = "hang"
    task, context = remote_task(engine)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    (remote,) = stand_in.runs.values()
    assert not remote.cancelled
    if engine is DBX_ENGINE:  # deferred with the time left of execution_timeout
        assert timedelta(minutes=119) < deferred.value.timeout <= timedelta(minutes=120)
    else:
        assert type(deferred.value.trigger).__name__ == "CancellingDbtCloudTrigger"
    task.on_kill()
    assert remote.cancelled


@pytest.mark.parametrize("engine", [DBT_ENGINE, DBX_ENGINE], ids=["dbt-cloud", "databricks"])
def test_clearing_a_deferred_task_cancels_the_run(stand_in, engine):
    """The triggerer calls the trigger's on_kill when a user clears or marks the task."""
    from airflow.sdk._shared.module_loading import import_string
    from airflow.sdk.exceptions import TaskDeferred

    stand_in.outcome = "hang"
    task, context = remote_task(engine)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute(context)
    classpath, kwargs = deferred.value.trigger.serialize()
    trigger = import_string(classpath)(**kwargs)  # as the triggerer rebuilds it
    asyncio.run(trigger.on_kill())
    (remote,) = stand_in.runs.values()
    assert remote.cancelled
    if engine is DBT_ENGINE:
        assert stand_in._dbt_view(remote)["status"] == DBT_CANCELLED


@pytest.mark.parametrize("engine", [DBT_ENGINE, DBX_ENGINE], ids=["dbt-cloud", "databricks"])
def test_a_trigger_timeout_cancels_the_run_and_fails_with_its_url(stand_in, engine):
    from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
    from airflow.sdk.exceptions import AirflowException, TaskDeferred

    stand_in.outcome = "hang"
    task, context = remote_task(engine)
    with pytest.raises(TaskDeferred):
        task.execute(context)
    (remote,) = stand_in.runs.values()
    with pytest.raises(AirflowException, match="exceeded the task's execution_timeout") as err:
        task.resume_execution(
            TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, context
        )
    assert remote.cancelled
    assert stand_in.run_url(remote) in str(err.value)


def test_a_failed_event_names_the_run_url_and_the_engine_error(stand_in):
    from airflow.sdk.exceptions import AirflowException, TaskDeferred

    stand_in.outcome = "failure"
    task, context = remote_task(DBT_ENGINE)
    with pytest.raises(TaskDeferred):
        task.execute(context)
    (remote,) = stand_in.runs.values()
    remote.reads = 5  # the run has ended
    event = {"status": "error", "message": "failed", "run_id": remote.run_id}
    with pytest.raises(AirflowException) as err:
        task.resume_execution("execute_complete", {"event": event}, context)
    message = str(err.value)
    assert f"dbt Cloud run {remote.run_id} failed" in message
    assert stand_in.run_url(remote) in message
    assert "Database Error in model fare_features" in message


def test_parsing_imports_neither_provider(tmp_path):
    """Airflow's provider discovery reads every installed provider's metadata; the operators,
    hooks and clients are imported only when a remote task runs."""
    import subprocess
    import sys

    from tests.conftest import DAGS_DIR

    code = (
        "import sys; from common import datasets, factory, engine_tasks;"
        "d = datasets.parse(open(sys.argv[1]).read())[0];"
        "factory.batch_dag(d, doc_md='x', runtime='local');"
        "bad = sorted(m for m in sys.modules if m.startswith(("
        "'airflow.providers.dbt.cloud.operators', 'airflow.providers.dbt.cloud.hooks',"
        " 'airflow.providers.databricks.operators', 'airflow.providers.databricks.hooks',"
        " 'databricks', 'common.engine_operators')));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    registry = tmp_path / "datasets.yaml"
    registry.write_text(
        "datasets:\n  - name: yellow\n    file_prefix: y_\n    landing_prefix: t/\n"
        "    primary: true\n    description: x\n" + textwrap.indent(DBT + DBX_JOB, "    ")
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(registry)],
        check=False,
        cwd=DAGS_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
