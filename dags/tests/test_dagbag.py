"""The DAG folder as Airflow parses it: zero import errors, the policy, the exact task graphs,
and no top-level I/O, under both runtimes."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import DAGS_DIR

DAG_IDS = {"batch", "full_refresh", "trigger_smoke"}
SCHEDULED_DAG_IDS = {"ingest"}
GRAPHS = {
    "batch": [
        "check_conf",
        "copy_to_staging",
        "validate",
        "load",
        "dbt_build",
        "retrain",
        "publish_docs",
    ],
    "full_refresh": [
        "check_conf",
        "transfer",
        "group_schemas",
        "initial_load",
        "dbt_build",
        "train",
    ],
    "trigger_smoke": ["check_conf"],
    "ingest": ["plan", "download"],
}
K8S_ENV = {
    "JOBS_NAMESPACE": "jobs",
    "IMAGE_SPARK": "s",
    "IMAGE_DBT": "d",
    "IMAGE_ML": "m",
    "IMAGE_CLOUD_SDK": "c",
}


@pytest.fixture(params=["local", "kubernetes"])
def dagbag(request, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("PLATFORM_RUNTIME", request.param)
    bag = DagBag(dag_folder=str(DAGS_DIR))
    bag.runtime = request.param
    return bag


def test_no_import_errors_and_exactly_the_expected_dags(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == DAG_IDS | SCHEDULED_DAG_IDS


def test_ingest_dag_is_monthly_with_catchup_and_paused_at_creation(dagbag):
    from datetime import datetime, timezone

    from airflow.sdk import CronDataIntervalTimetable

    dag = dagbag.dags["ingest"]
    assert dag.catchup is True
    assert dag.is_paused_upon_creation is True
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "0 6 1 * *"
    assert dag.start_date == datetime(2024, 1, 1, 6, 0, tzinfo=timezone.utc)
    assert dag.max_active_runs == 2
    assert {"taxi-platform", "ingest", "dataset:yellow", f"runtime:{dagbag.runtime}"} <= set(
        dag.tags
    )
    assert dag.doc_md.strip().startswith("###")
    plan, download = dag.get_task("plan"), dag.get_task("download")
    assert plan.retries == 0
    assert download.retries == 2
    assert download.execution_timeout is not None
    expected = "LocalIngestDownload" if dagbag.runtime == "local" else "KubernetesIngestDownload"
    assert type(download).__name__ == expected
    assert download.job.account == "ingest"


def test_policy(dagbag):
    for dag_id in DAG_IDS:
        dag = dagbag.dags[dag_id]
        assert dag.catchup is False, dag_id
        assert dag.schedule is None, dag_id  # triggered: by the S3 function or by hand
        assert "taxi-platform" in dag.tags, dag_id
        assert dag.doc_md.strip().startswith("###"), dag_id
        assert dag.start_date is not None, dag_id
        for t in dag.tasks:
            assert t.owner == "data-platform", (dag_id, t.task_id)
            # check_conf fails for good on a bad conf; every job retries.
            expected_retries = 0 if t.task_id == "check_conf" else 2
            assert t.retries == expected_retries, (dag_id, t.task_id)
            if t.task_id != "check_conf":
                assert t.execution_timeout is not None, (dag_id, t.task_id)
    for dag_id in ("batch", "full_refresh"):
        tags = dagbag.dags[dag_id].tags
        assert {"dataset:yellow", f"runtime:{dagbag.runtime}"} <= set(tags)


# Tasks that run beside the task before them in GRAPHS: task -> the task both follow.
BESIDE = {"batch": {"publish_docs": "dbt_build"}}


def expected_edges(dag_id: str) -> set[tuple[str, str]]:
    beside = BESIDE.get(dag_id, {})
    return {(beside.get(b, a), b) for a, b in itertools.pairwise(GRAPHS[dag_id])}


def test_exact_task_graphs(dagbag):
    for dag_id, chain in GRAPHS.items():
        dag = dagbag.dags[dag_id]
        edges = {(t.task_id, d) for t in dag.tasks for d in t.downstream_task_ids}
        assert [t.task_id for t in dag.topological_sort()] == chain
        assert edges == expected_edges(dag_id), dag_id
    # The batch run's last two tasks run side by side after dbt_build.
    batch = dagbag.dags["batch"]
    assert batch.get_task("dbt_build").downstream_task_ids == {"retrain", "publish_docs"}


def test_runners_per_runtime(dagbag, monkeypatch):
    kinds = {t.task_id: type(t).__name__ for t in dagbag.dags["batch"].tasks}
    if dagbag.runtime == "local":
        assert set(kinds.values()) - {"_PythonDecoratedOperator"} == {"LocalJobOperator"}
    else:
        # Light tasks at parse time; the official operators are built when a task executes
        # (tests/test_k8s_runtime.py runs them against the API stand-in).
        assert set(kinds.values()) - {"_PythonDecoratedOperator"} == {"KubernetesTask"}


PROBE = textwrap.dedent(
    """
    import importlib.util, json, os, sys

    dags_dir = sys.argv[1]
    sys.path.insert(0, dags_dir)
    # Airflow itself is loaded before the DAG files, as in the dag-processor (its imports run
    # `file -b python` through croniter's platform check: that is not the DAG files' doing).
    from airflow.sdk import DAG, BaseOperator, task
    DAG("probe_warmup", schedule=None)
    events = []

    def hook(event, args):
        if event == "open" and isinstance(args[0], str):
            path = os.path.abspath(args[0])
            if path.startswith(dags_dir + os.sep) and "/.venv/" not in path:
                events.append(["open", os.path.relpath(path, dags_dir)])
        elif event in ("socket.connect", "socket.getaddrinfo", "sqlite3.connect",
                       "subprocess.Popen", "urllib.Request"):
            events.append([event, repr(args)[:120]])

    before = set(sys.modules)
    sys.addaudithook(hook)
    for name in sys.argv[2:]:
        spec = importlib.util.spec_from_file_location(
            "probe_" + name[:-3], os.path.join(dags_dir, name)
        )
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    imported = sorted(
        m for m in set(sys.modules) - before
        if m.split(".")[0] == "kubernetes" or m.startswith("airflow.providers.cncf")
    )
    print(json.dumps({"events": events, "kubernetes": imported}))
    """
)
DAG_FILES = ["batch.py", "full_refresh.py", "trigger_smoke.py", "ingest.py"]


@pytest.mark.parametrize("runtime", ["local", "kubernetes"])
def test_parsing_does_no_top_level_io(runtime):
    env = {**os.environ, "PLATFORM_RUNTIME": runtime, **K8S_ENV}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(DAGS_DIR), *DAG_FILES],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=180,
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    network = [e for e in report["events"] if e[0] != "open"]
    assert network == [], "parsing the DAG folder must not use the network, the DB or processes"
    opened = {e[1] for e in report["events"]}
    data_files = {p for p in opened if not p.endswith((".py", ".pyc")) and "__pycache__" not in p}
    # The registry is the only data file a parse reads; templates are read when a task runs.
    assert data_files == {"datasets.yaml"}
    # Neither runtime imports the Kubernetes client or the provider when parsing (issue 26):
    # the kubernetes runtime imports them when a task executes.
    assert report["kubernetes"] == [], "parsing must not import the Kubernetes client/provider"
