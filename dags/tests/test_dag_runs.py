"""dag.test() on a real Airflow (SQLite metadata DB in a temporary AIRFLOW_HOME).

``batch`` and ``full_refresh`` run under the local runtime through the real local runner (real
subprocesses), with the job table swapped for small real jobs (:mod:`tests.small_job`) that get
the real jobs' rendered arguments; the spark/dbt/ml jobs themselves are covered end to end
elsewhere.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from common import datasets, factory
from common.jobs import Job, batch_jobs, full_refresh_jobs
from tests import xcoms

pytestmark = pytest.mark.airflow_db

MONTH_FILE = "yellow_tripdata_2024-01.parquet"


def _dagbag():
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import DAGS_DIR

    return DagBag(dag_folder=str(DAGS_DIR))


def _states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def small_table(real: tuple[Job, ...], out: Path) -> tuple[Job, ...]:
    """The real jobs' ids and (templated) arguments, run by tests.small_job."""
    small, previous = [], ""
    for job in real:
        run = job.local or job
        small.append(
            Job(
                job.task_id,
                "dags",
                ("--name", job.task_id, "--after", previous, "--", *run.args),
                module="tests.small_job",
                optional_args=run.optional_args,
                env={"SMALL_JOB_OUT": str(out)},
            )
        )
        previous = job.task_id
    return tuple(small)


def test_trigger_smoke_logs_and_returns_the_uri(airflow_db):
    uri = "s3://landing/trip data/yellow_tripdata_2024-01.parquet"
    run = _dagbag().get_dag("trigger_smoke").test(run_conf={"uri": uri})
    assert run.state == "success"
    assert xcoms.return_value(run, "check_conf") == {"uri": uri}


@pytest.mark.parametrize("conf", [{}, {"uri": ""}, {"uri": 3}])
def test_trigger_smoke_fails_without_a_uri(airflow_db, conf):
    run = _dagbag().get_dag("trigger_smoke").test(run_conf=conf)
    assert run.state == "failed"
    assert _states(run) == {"check_conf": "failed"}


@pytest.mark.parametrize("warm", [False, True], ids=["process", "warm-worker"])
def test_batch_local_runs_in_order_and_is_idempotent(
    airflow_db, local_platform, warm, request, monkeypatch
):
    """Each job as a new process, or (``npm start``'s default) in a fork of a warm worker."""
    tmp = local_platform
    worker_log = None
    if warm:
        sock, worker_log = request.getfixturevalue("warm_worker")
        monkeypatch.setenv("TAXI_WARM_WORKERS", f"dags={sock}")
    source = tmp / "landing" / "trip data" / MONTH_FILE
    source.parent.mkdir(parents=True)
    source.write_bytes(b"PAR1 not really parquet PAR1")
    out = tmp / "records"
    yellow = datasets.get("yellow")
    jobs = small_table(batch_jobs(yellow), out)
    dag = factory.batch_dag(yellow, doc_md="batch (small jobs)", jobs=jobs, runtime="local")

    run = dag.test(run_conf={"uri": source.as_uri()})
    assert run.state == "success", _states(run)
    order = ["check_conf", *(j.task_id for j in jobs)]
    tis = sorted(run.get_task_instances(), key=lambda ti: order.index(ti.task_id))
    for before, after in itertools.pairwise(tis):
        assert before.end_date <= after.start_date, (before.task_id, after.task_id)

    staged = tmp / "staging" / "yellow" / MONTH_FILE
    assert staged.read_bytes() == source.read_bytes()
    records = {j.task_id: json.loads((out / f"{j.task_id}.json").read_text()) for j in jobs}
    assert records["copy_to_staging"]["args"][:4] == [
        "--uri",
        source.as_uri(),
        "--dest",
        staged.as_uri(),
    ]
    assert records["validate"]["args"][:2] == ["--uri", staged.as_uri()]
    assert records["load"]["args"][:2] == ["--uri", staged.as_uri()]
    assert records["load"]["args"][2:] == ["--run-id", run.run_id]
    assert records["retrain"]["args"] == ["--month", "2024-01", "--run-id", run.run_id]
    assert records["dbt_build"]["args"] == [
        "build",
        "--no-unit-tests",
        "--vars",
        '{"source_month": "2024-01"}',
    ]
    assert {r["platform_runtime"] for r in records.values()} == {"local"}
    assert xcoms.return_value(run, "copy_to_staging") == {
        "copy": "copied",
        "job": "copy_to_staging",
    }

    snapshot = {p.relative_to(tmp): p.read_bytes() for p in tmp.rglob("*") if p.is_file()}
    again = dag.test(run_conf={"uri": source.as_uri()})
    assert again.state == "success", _states(again)
    after = {p.relative_to(tmp): p.read_bytes() for p in tmp.rglob("*") if p.is_file()}
    # Same files with the same bytes, except the run id the jobs were given.
    assert after.keys() == snapshot.keys()
    changed = sorted(str(k) for k in after if after[k] != snapshot[k])
    with_run_id = ("copy_to_staging", "load", "retrain", "validate")
    assert changed == [f"records/{t}.json" for t in sorted(with_run_id)]
    assert xcoms.return_value(again, "copy_to_staging") == {
        "copy": "skipped",
        "job": "copy_to_staging",
    }
    if worker_log is not None:
        events = [json.loads(line) for line in worker_log.read_text().splitlines()]
        finished = [e for e in events if e["event"] == "job_finished"]
        assert [e["exit_code"] for e in finished] == [0] * (2 * len(jobs))


def test_batch_bad_conf_fails_the_first_task_only(airflow_db, local_platform):
    yellow = datasets.get("yellow")
    out = local_platform / "records"
    dag = factory.batch_dag(
        yellow, doc_md="batch", jobs=small_table(batch_jobs(yellow), out), runtime="local"
    )
    run = dag.test(run_conf={"uri": "s3://bucket/trip data/green_tripdata_2024-01.parquet"})
    states = _states(run)
    assert states["check_conf"] == "failed"
    assert set(states.values()) - {"failed"} <= {"upstream_failed", None}
    assert not out.exists()


def test_full_refresh_local_passes_the_month_range(airflow_db, local_platform):
    out = local_platform / "records"
    yellow = datasets.get("yellow")
    jobs = small_table(full_refresh_jobs(yellow), out)
    dag = factory.full_refresh_dag(yellow, doc_md="full refresh", jobs=jobs, runtime="local")
    run = dag.test(run_conf={"from": "2023-11"})
    assert run.state == "success", _states(run)
    load = json.loads((out / "initial_load.json").read_text())["args"]
    prefix = (local_platform / "staging" / "yellow").as_uri() + "/"
    assert load == ["--uri", prefix, "--run-id", run.run_id, "--from", "2023-11"]
    transfer = json.loads((out / "transfer.json").read_text())["args"]
    landing = (local_platform / "landing").as_uri() + "/trip data/"  # as the registry spells it
    assert transfer[:6] == [
        "--uri",
        landing,
        "--dest",
        prefix,
        "--glob",
        "yellow_tripdata_*.parquet",
    ]


def test_a_first_job_beside_nothing_is_refused():
    import dataclasses

    yellow = datasets.get("yellow")
    jobs = list(batch_jobs(yellow))
    jobs[0] = dataclasses.replace(jobs[0], beside_previous=True)
    with pytest.raises(ValueError, match="copy_to_staging runs beside the job before it"):
        factory.batch_dag(yellow, doc_md="batch", jobs=jobs, runtime="local")
