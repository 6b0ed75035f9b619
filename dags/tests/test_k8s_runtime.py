"""The kubernetes runtime against the loopback API stand-in (:mod:`tests.k8s_stand_in`), with the
cncf-kubernetes provider's own operator code: what the operators ask the API server for, and
that a retry adopts or replaces the object of an earlier try instead of starting a second one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from common import datasets, jobs, templates
from tests.k8s_recorder import AIRFLOW_SERVICE_ACCOUNT
from tests.k8s_stand_in import StandIn, _suffix, field_match, label_match, parse_request

DAGS_DIR = Path(__file__).resolve().parent.parent
YELLOW = datasets.get("yellow")
RUN_ID = "manual__2024-02-01T00:00:00+00:00"
RECORD_KEYS = {
    "serviceAccount",
    "verb",
    "group",
    "version",
    "resource",
    "subresource",
    "namespace",
    "name",
}


# --- the stand-in's authorizer view ------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        ("GET", "/api/v1/namespaces/j/pods?labelSelector=a%3Db", ("list", "", "pods", None, None)),
        ("GET", "/api/v1/namespaces/j/pods?watch=true", ("watch", "", "pods", None, None)),
        ("GET", "/api/v1/namespaces/j/pods/p/log?follow=true", ("get", "", "pods", "log", "p")),
        (
            "GET",
            "/apis/batch/v1/namespaces/j/jobs/x/status",
            ("get", "batch", "jobs", "status", "x"),
        ),
        ("POST", "/apis/batch/v1/namespaces/j/jobs", ("create", "batch", "jobs", None, None)),
        ("PATCH", "/api/v1/namespaces/j/pods/p", ("patch", "", "pods", None, "p")),
        (
            "DELETE",
            "/apis/sparkoperator.k8s.io/v1beta2/namespaces/j/sparkapplications/s",
            ("delete", "sparkoperator.k8s.io", "sparkapplications", None, "s"),
        ),
        ("DELETE", "/api/v1/namespaces/j/pods", ("deletecollection", "", "pods", None, None)),
    ],
)
def test_requests_are_recorded_as_the_authorizer_sees_them(method, url, expected):
    req, _ = parse_request(method, url)
    assert (req.verb, req.group, req.resource, req.subresource, req.name) == expected
    assert req.namespace == "j"


def test_selectors():
    labels = {"a": "1", "job-name": "x"}
    assert label_match(labels, "a=1,job-name=x,!airflow-worker")
    assert not label_match(labels, "a=1,already_checked!=1,b")
    assert not label_match(labels, "a!=1")
    pod = {"status": {"phase": "Failed"}, "metadata": {"name": "p"}}
    assert not field_match(pod, "status.phase!=Failed")
    assert field_match(pod, "metadata.name=p,status.phase!=Unknown")


# --- the recorder command ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    out = tmp_path_factory.mktemp("rec") / "calls.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.k8s_recorder", "--out", str(out)],
        cwd=DAGS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in out.read_text().splitlines()]


def _kinds(records):
    return {(r["verb"], r["group"], r["resource"], r["subresource"]) for r in records}


def test_recorder_runs_every_task_through_the_operators(recorded):
    assert all(set(r) == RECORD_KEYS for r in recorded)
    assert {r["serviceAccount"] for r in recorded} == {AIRFLOW_SERVICE_ACCOUNT}
    assert {r["namespace"] for r in recorded} == {"jobs"}
    kinds = _kinds(recorded)
    for call in [
        # the operators stream the logs, and the end of each succeeded pod's log is read for
        # the job's summary (the tail reads are checked by the recorder: every task's XCom)
        ("create", "batch", "jobs", None),
        ("get", "batch", "jobs", "status"),  # the Job operator waits on the status subresource
        ("list", "", "pods", None),
        ("get", "", "pods", "log"),
        ("create", "sparkoperator.k8s.io", "sparkapplications", None),
        ("get", "sparkoperator.k8s.io", "sparkapplications", "status"),
        ("delete", "sparkoperator.k8s.io", "sparkapplications", None),
    ]:
        assert call in kinds, call
    created = [r["name"] for r in recorded if r["verb"] == "get" and r["subresource"] == "status"]
    # one status read per task at least: 6 batch jobs + 5 full_refresh jobs
    assert len(set(created)) == 11


# --- launcher RBAC: every recorded call is allowed by the Role the stack renders ---------------
def rbac_allows(rules: list[dict], call: dict) -> bool:
    resource = call["resource"] + (f"/{call['subresource']}" if call["subresource"] else "")
    for rule in rules:
        if (
            call["group"] in rule.get("apiGroups", [])
            and (resource in rule.get("resources", []) or "*" in rule.get("resources", []))
            and (call["verb"] in rule.get("verbs", []) or "*" in rule.get("verbs", []))
            and (not rule.get("resourceNames") or call["name"] in rule["resourceNames"])
        ):
            return True
    return False


def test_rbac_evaluation_denies_what_no_rule_grants():
    rules = [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]}]
    call = {
        "group": "batch",
        "resource": "jobs",
        "subresource": "status",
        "verb": "get",
        "name": "x",
    }
    assert not rbac_allows(rules, call)
    assert rbac_allows(rules, {**call, "subresource": None})


def _launcher_rules() -> list[dict]:
    root = DAGS_DIR.parent
    tsx = root / "node_modules" / ".bin" / "tsx"
    if not tsx.exists():
        pytest.skip("node_modules not installed (npm ci): cannot read the launcher Role")
    script = (
        'import { LAUNCHER_RULES } from "./components/airflow";'
        "console.log(JSON.stringify(LAUNCHER_RULES));"
    )
    proc = subprocess.run(
        [str(tsx), "-e", script], cwd=root, capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_launcher_role_allows_every_recorded_call(recorded):
    rules = _launcher_rules()
    denied = sorted(
        {
            f"{r['verb']} {r['group'] or 'core'}/{r['resource']}"
            + (f"/{r['subresource']}" if r["subresource"] else "")
            for r in recorded
            if not rbac_allows(rules, r)
        }
    )
    assert denied == [], f"the airflow-launcher Role denies: {denied}"


# --- retries: adopt or replace the object of an earlier try ------------------------------------
@pytest.fixture
def api(monkeypatch, tmp_path):
    with StandIn() as stand_in:
        config = tmp_path / "kubeconfig"
        config.write_text(stand_in.kubeconfig("taxi-jobs"))
        monkeypatch.setenv(
            "AIRFLOW_CONN_KUBERNETES_DEFAULT",
            json.dumps({"conn_type": "kubernetes", "extra": {"kube_config_path": str(config)}}),
        )
        for key, value in templates.SAMPLE_ENV.items():
            monkeypatch.setenv(key, value)
        yield stand_in


def _context(task_id: str, try_number: int = 2):
    pushed = {}

    def xcom_push(key, value):
        pushed[key] = value

    ti = SimpleNamespace(
        dag_id="batch",
        task_id=task_id,
        run_id=RUN_ID,
        map_index=-1,
        try_number=try_number,
        xcom_push=xcom_push,
    )
    return {"ti": ti, "task_instance": ti, "run_id": RUN_ID, "dag": SimpleNamespace(dag_id="batch")}


def _task(task_id: str):
    from common.runners import KubernetesTask

    job = next(j for j in jobs.batch_jobs(YELLOW) if j.task_id == task_id)
    task = KubernetesTask(task_id=task_id, job=job, dag_id="batch")
    task.arguments = ["--uri", "gs://s/yellow/f.parquet", "--run-id", RUN_ID]
    return task, job


def _calls(api, resource):
    return [(r.verb, r.subresource) for r in api.requests if r.resource == resource]


def _leftover_job(api, job, failed: bool):
    from common.runners import render

    manifest = render(job, [], dag_id="batch", run_id=RUN_ID)
    manifest["metadata"]["name"] = "job-" + manifest["metadata"]["name"]
    created = api.cluster.create_job("taxi-jobs", manifest)
    if failed:
        created["status"] = {
            "failed": 1,
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
        }
    return created["metadata"]["name"]


def test_a_retry_replaces_the_failed_job_of_an_earlier_try(api):
    task, job = _task("copy_to_staging")
    name = _leftover_job(api, job, failed=True)
    task.execute(_context("copy_to_staging"))
    jobs_calls = _calls(api, "jobs")
    assert jobs_calls[:2] == [("get", None), ("delete", None)]
    assert jobs_calls.count(("create", None)) == 1
    assert api.cluster.get("jobs", "taxi-jobs", name)["status"]["succeeded"] == 1


def test_a_restarted_worker_adopts_the_running_job(api):
    task, job = _task("copy_to_staging")
    name = _leftover_job(api, job, failed=False)
    task.execute(_context("copy_to_staging"))
    assert ("create", None) not in _calls(api, "jobs"), "a second Job was started"
    assert api.cluster.get("jobs", "taxi-jobs", name)["status"]["succeeded"] == 1


def test_a_job_without_a_pod_fails_in_bounded_time_and_is_deleted(api, monkeypatch):
    from airflow.sdk.exceptions import AirflowException

    from common import k8s_operators

    monkeypatch.setattr(k8s_operators, "POD_DISCOVERY_TIMEOUT", 0.5)
    monkeypatch.setattr(k8s_operators, "POLL_SECONDS", 0.1)
    api.cluster.create_job_pods = False
    task, _ = _task("copy_to_staging")
    with pytest.raises(AirflowException, match="created no pod"):
        task.execute(_context("copy_to_staging"))
    assert api.cluster.items("jobs", "taxi-jobs") == []
    assert ("delete", None) in _calls(api, "jobs")


def test_a_retry_replaces_a_failed_spark_application(api):
    from common.runners import render

    task, job = _task("validate")
    manifest = render(job, [], dag_id="batch", run_id=RUN_ID)
    app = api.cluster.create_spark_application(manifest)
    app["status"]["applicationState"] = {"state": "FAILED"}
    task.execute(_context("validate"))
    calls = _calls(api, "sparkapplications")
    assert calls[:2] == [("get", None), ("delete", None)]
    assert calls.count(("create", None)) == 1


@pytest.mark.parametrize("code", [3, 1])
def test_a_failed_job_surfaces_its_exit_code(api, code):
    """The ingest download's "not yet" (3) and any other code reach the task as
    JobFailedError.exit_code, read from the Job's pod (common.k8s_operators.failed_exit_code)."""
    from common.runners import JobFailedError, KubernetesTask

    api.cluster.pod_exit_code = code
    job = jobs.ingest_jobs(YELLOW)[0]
    task = KubernetesTask(task_id="download", job=job, dag_id="ingest")
    task.arguments = ["--uri", "https://x/yellow_tripdata_2024-01.parquet", "--dest", "s3://b/k"]
    with pytest.raises(JobFailedError) as info:
        task.execute(_context("download", try_number=1))
    assert info.value.exit_code == code
    assert ("list", None) in _calls(api, "pods")
    assert _tail_reads(api) == [], "a failed pod's log is not read for a summary"


# --- the job's JSON summary as the task's XCom ---------------------------------------------------
def _event(name: str) -> str:
    return json.dumps(
        {"ts": "2024-02-01T10:00:00.000+00:00", "level": "info", "logger": "job", "event": name}
    )


def _tail_reads(api):
    return [r for r in api.log_reads if r["tailLines"] is not None]


def _read_before_delete(api) -> bool:
    pods = _calls(api, "pods")
    last_log = max(i for i, c in enumerate(pods) if c == ("get", "log"))
    return ("delete", None) in pods[last_log:]


def test_summary_from_log_takes_the_last_json_object_that_is_not_a_log_event():
    from common.runners import summary_from_log

    summary = {"rows_loaded": 987, "event_count": 3}
    text = "\n".join(
        [_event("job_started"), json.dumps(summary), _event("job_finished"), "INFO stopped", ""]
    )
    assert summary_from_log(text) == summary
    assert summary_from_log(_event("only_logs") + "\n[1, 2]\nnot json\n") is None
    assert summary_from_log("") is None


def test_a_job_returns_the_summary_at_the_end_of_its_pod_log(api):
    from common import k8s_operators

    summary = {"rows_read": 1000, "rows_loaded": 987, "quarantine_by_reason": {"negative_fare": 13}}
    api.cluster.pod_log_lines = (_event("job_started"), json.dumps(summary), _event("job_done"))
    task, _ = _task("copy_to_staging")
    assert task.execute(_context("copy_to_staging", try_number=1)) == summary
    [tail] = _tail_reads(api)
    assert tail["container"] == "base"
    assert tail["tailLines"] == k8s_operators.SUMMARY_TAIL_LINES
    assert tail["follow"] is False
    [created] = api.cluster.items("jobs", "taxi-jobs")
    name = created["metadata"]["name"]
    assert tail["pod"] == f"{name}-{_suffix(name)}"  # the Job's pod
    assert _read_before_delete(api), "the log is read before the succeeded pod is deleted"
    assert api.cluster.items("pods", "taxi-jobs") == []


def test_a_spark_application_returns_the_summary_from_its_driver_log(api):
    summary = {"rows": 1000, "success_percent": 97.5, "threshold_pct": 95.0}
    api.cluster.pod_log_lines = (
        "26/02/01 10:00:00 INFO SparkContext: Running Spark version 4.0.1",
        json.dumps(summary),
        "26/02/01 10:01:00 INFO SparkContext: Successfully stopped SparkContext",
        "26/02/01 10:01:00 INFO ShutdownHookManager: Shutdown hook called",
    )
    task, _ = _task("validate")
    assert task.execute(_context("validate", try_number=1)) == summary
    [tail] = _tail_reads(api)
    assert tail["container"] == "spark-kubernetes-driver"
    assert tail["pod"] == f"{task._official.name}-driver"
    # read, then the operator deleted the application (and with it the driver pod)
    assert _calls(api, "sparkapplications")[-1] == ("delete", None)
    assert api.cluster.items("pods", "taxi-jobs") == []


def test_a_log_without_a_summary_gives_no_xcom_and_the_task_still_succeeds(api):
    api.cluster.pod_log_lines = (_event("job_started"), "plain text, no summary")
    task, _ = _task("copy_to_staging")
    assert task.execute(_context("copy_to_staging", try_number=1)) is None
    assert len(_tail_reads(api)) == 1
