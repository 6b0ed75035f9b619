"""Job templates: the shared Jinja/nunjucks subset (lint), the manifests of the job table, and
that the official operators keep every field of a rendered manifest.

The cross-engine parity (Jinja2 here, nunjucks there) and the strict schema validation run in
``testing/job-templates.test.ts``, which renders the same fixtures and job-table cases.
"""

from __future__ import annotations

import copy
import json
import re

import pytest

from common import datasets, jobs, pipeline_env, templates
from tests.conftest import REPO_ROOT

FIXTURES = REPO_ROOT / "testing" / "fixtures" / "job-templates"
SOURCES = sorted(templates.TEMPLATES.glob("*.j2"))
ENV = pipeline_env.read(templates.SAMPLE_ENV)
YELLOW = datasets.get("yellow")
ALL_JOBS = [("batch", j) for j in jobs.batch_jobs(YELLOW)] + [
    ("full_refresh", j) for j in jobs.full_refresh_jobs(YELLOW)
]

# --- the shared subset (docs/conventions.md) ------------------------------------------------------
ALLOWED_FILTERS = {"tojson", "dictsort", "length", "default"}
ALLOWED_TESTS = {"defined"}
# Printed without tojson: integers, or the strings "true"/"false" the values builders pass.
RAW_OUTPUTS = {
    "backoff_limit",
    "active_deadline_seconds",
    "ttl_seconds_after_finished",
    "run_as_user",
    "automount_service_account_token",
    "read_only_root_filesystem",
    "m.read_only",
    "time_to_live_seconds",
    "prometheus.port",
    "pod.instances",
    "pod.cores",
}
FORBIDDEN = {
    r"\bnamespace\(": "no namespace()",
    r"\.items\(\)": "no .items(): use dictsort",
    r"map\(\s*attribute": "no map(attribute=…)",
    r"\[\s*-\d": "no negative indices",
    r"\{%-?\s*set\b": "no set: never (re)assign variables in templates",
    r"\b(True|False|None)\b": "no Python literals: booleans and None arrive as strings",
    r"\{%-?\s*(macro|call|import|include|extends|block|filter|with)\b": "keep to if/for",
    r"\d\.\d": "no float literals",
    r"\bloop\.": "no loop.* (its attributes differ between the engines)",
}


def _strip_comments(text: str) -> str:
    return re.sub(r"\{#.*?#\}", "", text, flags=re.S)


def lint(source: str) -> list[str]:
    """Problems of a template source against the shared Jinja/nunjucks subset."""
    text = _strip_comments(source)
    problems = [
        f"{why}: {m.group(0)!r}" for pat, why in FORBIDDEN.items() for m in re.finditer(pat, text)
    ]
    for expr in re.findall(r"\{\{-?(.*?)-?\}\}", text, flags=re.S):
        parts = [p.strip() for p in expr.split("|")]
        filters = {re.split(r"[\s(]", p, maxsplit=1)[0] for p in parts[1:]}
        problems += [f"filter {f!r} not in the shared subset" for f in filters - ALLOWED_FILTERS]
        if parts[-1] != "tojson" and parts[0] not in RAW_OUTPUTS:
            problems.append(f"{{{{ {expr.strip()} }}}} prints without tojson")
        if "default" in filters and not re.search(r"default\([^)]*,\s*true\)", expr):
            problems.append(f"{expr.strip()!r}: use default(x, true)")
    for block in re.findall(r"\{%-?(.*?)-?%\}", text, flags=re.S):
        tests = re.findall(r"\bis\s+(?:not\s+)?(\w+)", block)
        problems += [f"test {t!r} not in the shared subset" for t in set(tests) - ALLOWED_TESTS]
        problems += [
            f"filter {f!r} not in the shared subset"
            for f in re.findall(r"\|\s*(\w+)", block)
            if f not in ALLOWED_FILTERS
        ]
        loop = re.match(r"\s*for\s+(.+?)\s+in\s+(.+?)\s*$", block)
        if loop and "," in loop.group(1) and "dictsort" not in loop.group(2):
            problems.append(f"{block.strip()!r}: unpack pairs from | dictsort only")
    return problems


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_template_sources_keep_to_the_shared_subset(path):
    assert lint(path.read_text(encoding="utf-8")) == [], path.name


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("{{ name }}", "prints without tojson"),
        ("{% set x = 1 %}", "no set"),
        ("{% for k, v in d.items() %}{% endfor %}", "no .items()"),
        ("{% for k, v in pairs %}{% endfor %}", "unpack pairs from | dictsort only"),
        ("{{ xs | map(attribute='a') | join | tojson }}", "filter 'join'"),
        ("{{ xs[-1] | tojson }}", "no negative indices"),
        ("{% if x is string %}{% endif %}", "test 'string'"),
        ("{% if x | first %}{% endif %}", "filter 'first'"),
        ("{{ x | default('a') | tojson }}", "use default(x, true)"),
        ("{% if x == None %}{% endif %}", "no Python literals"),
        ("{% for x in xs %}{{ loop.index }}{% endfor %}", "no loop.*"),
        ("{{ 1.5 }}", "no float literals"),
        ("{% set ns = namespace(a=1) %}", "no namespace()"),
    ],
)
def test_the_lint_catches_what_it_forbids(source, problem):
    assert any(problem in p for p in lint(source)), lint(source)


def test_raw_outputs_are_integers_or_boolean_strings():
    for dag_id, job in ALL_JOBS:
        build = templates.spark_values if job.kind == "spark" else templates.job_values
        values = build(job, ENV, dag_id=dag_id, args=list(job.args))
        flat = dict(values)
        flat.update({f"prometheus.{k}": v for k, v in values.get("prometheus", {}).items()})
        for pod in values.get("pods", []):
            flat.update({f"pod.{k}": v for k, v in pod.items()})
        for m in values["volume_mounts"]:
            flat["m.read_only"] = m["read_only"]
        for key in RAW_OUTPUTS & flat.keys():
            v = flat[key]
            assert (type(v) is int) or v in ("true", "false"), (job.task_id, key, v)
        assert "null" not in json.dumps(values)


def test_fixtures_cover_every_optional_field_and_tricky_value():
    cases = templates.parity_cases(FIXTURES)
    full_job = cases["job-full.values.json"]["values"]
    minimal = cases["job-minimal.values.json"]["values"]
    assert {
        "run_as_user",
        "working_dir",
        "active_deadline_seconds",
        "ttl_seconds_after_finished",
    } <= (full_job.keys())
    assert not {"run_as_user", "working_dir", "active_deadline_seconds"} & minimal.keys()
    kinds = {k for v in full_job["volumes"] for k in v if k != "name"}
    assert kinds == {"empty_dir", "secret", "config_map"}
    for key in ("env", "secret_env", "tolerations", "volumes", "volume_mounts", "command", "args"):
        assert full_job[key], key
        assert minimal[key] == [], key
    text = json.dumps(full_job)
    assert '\\"' in text
    assert ": " in json.dumps(full_job["args"])
    assert "'" in text
    spark_min = cases["spark-minimal.values.json"]["values"]
    assert spark_min["secrets"] == []
    assert cases["spark-full.values.json"]["values"]["secrets"]


@pytest.mark.parametrize(("dag_id", "job"), ALL_JOBS, ids=lambda x: getattr(x, "task_id", x))
def test_job_table_manifests(dag_id, job):
    m = templates.manifest(job, ENV, dag_id=dag_id, args=["--uri", "gs://s/yellow/f.parquet"])
    assert m["metadata"]["namespace"] == "taxi-jobs"
    if job.kind == "spark":
        assert m["kind"] == "SparkApplication"
        pods = [m["spec"]["driver"], m["spec"]["executor"]]
        assert m["spec"]["image"] == ENV.get("IMAGE_SPARK")
        assert m["spec"]["driver"]["annotations"]["prometheus.io/port"] == "8090"
        assert m["spec"]["mainApplicationFile"].startswith(
            "local:///opt/taxi-spark/src/taxi_spark/jobs/"
        )
    else:
        assert m["kind"] == "Job"
        spec = m["spec"]["template"]["spec"]
        pods = [spec]
        assert spec["serviceAccountName"] == job.account
        container = spec["containers"][0]
        assert container["name"] == "base"
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert m["spec"]["activeDeadlineSeconds"] == int(job.timeout.total_seconds())
    for pod in pods:
        assert pod["nodeSelector"] == {"taxi-platform/pool": "jobs"}
        assert pod["tolerations"] == [
            {
                "key": "taxi-platform/pool",
                "operator": "Equal",
                "value": "jobs",
                "effect": "NoSchedule",
            }
        ]
        container = pod["containers"][0] if "containers" in pod else pod
        assert {"configMapRef": {"name": "pipeline-env"}} in container["envFrom"]


def test_service_accounts_per_component():
    sa = {(d, j.task_id): templates.manifest(j, ENV, dag_id=d, args=[]) for d, j in ALL_JOBS}

    def account(m):
        return (
            m["spec"]["driver"]["serviceAccount"]
            if m["kind"] == "SparkApplication"
            else (m["spec"]["template"]["spec"]["serviceAccountName"])
        )

    assert account(sa[("batch", "load")]) == "spark"
    assert account(sa[("batch", "copy_to_staging")]) == "transfer"
    assert account(sa[("batch", "dbt_build")]) == "dbt"
    assert account(sa[("batch", "retrain")]) == "ml"
    assert account(sa[("full_refresh", "transfer")]) == "transfer"
    assert account(sa[("full_refresh", "train")]) == "ml"


def test_missing_pipeline_env_names_the_key():
    job = jobs.batch_jobs(YELLOW)[0]
    with pytest.raises(pipeline_env.PipelineEnvError, match="IMAGE_SPARK is not set"):
        templates.manifest(job, pipeline_env.read({"JOBS_NAMESPACE": "j"}), dag_id="batch", args=[])


# --- the official operators receive the rendered dicts -----------------------------------------
@pytest.fixture
def kubeconfig(tmp_path, monkeypatch):
    """A kubeconfig pointing at a loopback port nothing listens on: building a request needs a
    client configuration, and nothing is sent."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:28099'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"
    )
    for key, value in templates.SAMPLE_ENV.items():
        monkeypatch.setenv(key, value)
    # Passed explicitly: the Kubernetes client reads $KUBECONFIG once, when first imported.
    return str(path)


def _missing_or_changed(expected, actual, path=""):
    """Leaves of ``expected`` that ``actual`` lacks or changes (additions are fine)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [path]
        return [
            p
            for k, v in expected.items()
            for p in _missing_or_changed(v, actual.get(k), f"{path}.{k}")
        ]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [path]
        return [
            p
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for p in _missing_or_changed(e, a, f"{path}[{i}]")
        ]
    return [] if expected == actual else [path]


def test_job_operator_keeps_every_field_of_the_manifest(kubeconfig):
    from kubernetes.client import ApiClient

    from common import k8s_operators
    from common.runners import render

    job = jobs.batch_jobs(YELLOW)[0]
    args = ["--uri", "s3://l/trip data/yellow_tripdata_2024-01.parquet", "--dest", "gs://s/y"]
    manifest = render(job, args, dag_id="batch", run_id="manual__1")
    op = k8s_operators.operator_for(job, manifest, task_id=job.task_id, config_file=kubeconfig)
    built = ApiClient().sanitize_for_serialization(op.build_job_request_obj(None))
    assert _missing_or_changed(manifest, built) == [".metadata.name"]
    # deterministic: the operator only adds its "job-" prefix, no random suffix
    assert built["metadata"]["name"] == "job-" + manifest["metadata"]["name"]
    assert built["spec"]["template"]["spec"]["containers"][0]["args"][1].startswith(
        "s3://l/trip data/"
    )


def test_spark_operator_submits_the_manifest_as_rendered(kubeconfig):
    from airflow.providers.cncf.kubernetes.operators.custom_object_launcher import (
        CustomObjectLauncher,
    )

    from common import k8s_operators
    from common.runners import render

    job = jobs.batch_jobs(YELLOW)[2]
    args = ["--uri", "gs://s/yellow/f.parquet", "--run-id", "r1"]
    manifest = render(job, args, dag_id="batch", run_id="r1")
    op = k8s_operators.operator_for(job, copy.deepcopy(manifest), task_id=job.task_id)
    assert op.create_job_name() == manifest["metadata"]["name"]
    launcher = CustomObjectLauncher(
        name=op.create_job_name(),
        namespace="taxi-jobs",
        kube_client=None,
        custom_obj_api=None,
        template_body=copy.deepcopy(op.template_body),
    )
    assert _missing_or_changed(manifest, launcher.body) == []
    assert launcher.body["spec"]["arguments"] == args


def test_object_names_are_deterministic_per_run_and_task():
    first = jobs.object_name("full_refresh_green", "initial_load", "manual__2024-02-01T00:00:00")
    assert first == jobs.object_name(
        "full_refresh_green", "initial_load", "manual__2024-02-01T00:00:00"
    )
    assert first != jobs.object_name("full_refresh_green", "initial_load", "manual__2024-03-01")
    assert len(first) <= 49
    assert re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", first)


def test_optional_arguments_are_dropped_when_empty():
    from common.jobs import final_args

    assert final_args(["--uri", "u"], [["--from", "2024-01"], ["--to", ""]]) == [
        "--uri",
        "u",
        "--from",
        "2024-01",
    ]


def _mib(quantity: str) -> float:
    units = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}
    return float(quantity[:-1]) * units[quantity[-1].lower()]


@pytest.mark.parametrize(
    ("dag_id", "job"),
    [(d, j) for d, j in ALL_JOBS if j.kind == "spark"],
    ids=lambda x: getattr(x, "task_id", x),
)
def test_spark_memory_overhead_is_at_least_sparks_own_pyspark_default(dag_id, job):
    """Spark on Kubernetes gives non-JVM (PySpark) pods max(384 MiB, 40 % of the heap) of
    overhead by default; an explicit memoryOverhead below that starves the Python workers
    (issue 27, defect 8). Sized from measurements: dags/README.md "Sizing"."""
    m = templates.manifest(job, ENV, dag_id=dag_id, args=[])
    for role in ("driver", "executor"):
        pod = m["spec"][role]
        assert _mib(pod["memoryOverhead"]) >= max(384, 0.4 * _mib(pod["memory"])), (role, pod)


@pytest.mark.parametrize(
    ("dag_id", "job"),
    [(d, j) for d, j in ALL_JOBS if j.kind == "job"],
    ids=lambda x: getattr(x, "task_id", x),
)
def test_jobs_ignore_node_disruptions_with_a_bounded_backoff(dag_id, job):
    """A Spot preemption of the jobs pool must not fail the task (issue 27, defect 6): pod
    failures with the DisruptionTarget condition are ignored, the job's own deterministic
    failures (exit 1/2) fail at once, anything else retries a bounded number of times."""
    spec = templates.manifest(job, ENV, dag_id=dag_id, args=[])["spec"]
    assert 1 <= spec["backoffLimit"] <= 3
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0] == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }
    assert rules[1]["action"] == "FailJob"
    assert rules[1]["onExitCodes"] == {
        "containerName": "base",
        "operator": "In",
        "values": [1, 2, 3, 4],
    }
    assert spec["template"]["spec"]["restartPolicy"] == "Never"  # required by podFailurePolicy
    assert spec["activeDeadlineSeconds"] == int(job.timeout.total_seconds())
