"""Render the job templates (``dags/templates/*.yaml.j2``) into Kubernetes objects (dicts).

The same templates are rendered by nunjucks in the TypeScript tests, so the Jinja2 environment here
is configured like nunjucks (no autoescape, no block trimming) and the templates keep to the shared
subset (docs/conventions.md). :func:`job_values` / :func:`spark_values` build the template context
from a :class:`~common.jobs.Job`, the pipeline env and the run's rendered arguments; booleans are
passed as the strings ``"true"``/``"false"`` and optional keys are left out, never ``None``.
``python -m common.templates FIXTURE_DIR`` prints every parity case (the fixtures plus every job
of the job table) with its Jinja2 rendering as JSON: the TypeScript test renders the same cases
with nunjucks, compares, and validates them against the Kubernetes schemas.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any

import jinja2
import yaml

from common.jobs import COMPONENTS, Job, k8s_name, object_name
from common.pipeline_env import PipelineEnv

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
JOB_TEMPLATE = "job.yaml.j2"
SPARK_TEMPLATE = "sparkapplication.yaml.j2"
TEMPLATE_OF_KIND = {"job": JOB_TEMPLATE, "spark": SPARK_TEMPLATE}

POOL_LABEL = "taxi-platform/pool"
PIPELINE_ENV_CONFIGMAP = "pipeline-env"
SPARK_VERSION = "4.0.4"
JMX_EXPORTER_JAR = "/opt/jmx/jmx_prometheus_javaagent.jar"
JMX_CONFIG = "/opt/jmx/jmx-exporter.yaml"
JMX_PORT = 8090
DRIVER_ANNOTATIONS = {
    "prometheus.io/scrape": "true",
    "prometheus.io/port": str(JMX_PORT),
    "prometheus.io/path": "/metrics",
}
# Job exit codes of the job CLI contract (libs/python/taxi_common/jobcli.py: 1 a failed check,
# 2 bad input, 3 not available yet, 4 source still failing after the job's own retries): the
# Job fails at once instead of retrying the pod; the task decides (3: reschedule later, 4:
# Airflow's retry with backoff).
FAIL_JOB_EXIT_CODES = (1, 2, 3, 4)
# Pod failures that count against the Job's backoff (crashes, OOM kills); node disruptions
# (Spot preemption, drains: the DisruptionTarget condition) do not count.
BACKOFF_LIMIT = 2


class TemplateError(ValueError):
    """A template could not be rendered into a Kubernetes object."""


@functools.cache
def environment(folder: Path = TEMPLATES) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
    )


def render_text(template: str, values: dict[str, Any], folder: Path = TEMPLATES) -> str:
    return environment(folder).get_template(template).render(**values)


def render(template: str, values: dict[str, Any], folder: Path = TEMPLATES) -> dict[str, Any]:
    """Render ``template`` with ``values`` and parse the YAML into one object."""
    try:
        text = render_text(template, values, folder)
    except jinja2.TemplateError as exc:
        raise TemplateError(f"{template}: {exc}") from exc
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TemplateError(f"{template} rendered invalid YAML: {exc}\n{text}") from exc
    if not isinstance(obj, dict):
        raise TemplateError(f"{template} did not render a mapping")
    return obj


def _image(job: Job, env: PipelineEnv) -> str:
    comp = COMPONENTS[job.component]
    if comp.image_key is None:
        if comp.image is None:
            raise TemplateError(
                f"job {job.task_id}: component {comp.name!r} has no image (local runtime only)"
            )
        return comp.image
    return env.require(comp.image_key, f"as the image of the {job.task_id} task", "…@sha256:…")


def _pod_settings(job: Job, env: PipelineEnv, *, dag_id: str) -> dict[str, Any]:
    comp = COMPONENTS[job.component]
    pool = env.get("JOBS_NODE_POOL") or "jobs"
    env_list = [{"name": k, "value": v} for k, v in sorted(job.env.items())]
    if job.kind == "job" and comp.pythonpath:
        env_list.insert(0, {"name": "PYTHONPATH", "value": comp.pythonpath})
    return {
        "namespace": env.require("JOBS_NAMESPACE", "to place task pods", "jobs"),
        "labels": {
            "app.kubernetes.io/name": f"taxi-{comp.name}",
            "app.kubernetes.io/part-of": "taxi-platform",
            "app.kubernetes.io/component": k8s_name(job.task_id, max_len=63),
            "taxi-platform/dag": k8s_name(dag_id, max_len=63),
        },
        "service_account": job.account,
        "image": _image(job, env),
        "image_pull_policy": "IfNotPresent",
        "env": env_list,
        "secret_env": [{"name": s.name, "secret": s.secret, "key": s.key} for s in job.secret_env],
        "env_from_config_maps": [PIPELINE_ENV_CONFIGMAP],
        "node_selector": {POOL_LABEL: pool},
        "tolerations": [
            {"key": POOL_LABEL, "operator": "Equal", "value": pool, "effect": "NoSchedule"}
        ],
        "volumes": [{"name": "tmp", "empty_dir": {"size_limit": "2Gi"}}],
        "volume_mounts": [{"name": "tmp", "mount_path": "/tmp", "read_only": "false"}],
    }


def job_values(
    job: Job, env: PipelineEnv, *, dag_id: str, args: list[str], run_id: str | None = None
) -> dict[str, Any]:
    """Context of ``job.yaml.j2`` for a plain Job task (``args``: rendered arguments)."""
    comp = COMPONENTS[job.component]
    values = _pod_settings(job, env, dag_id=dag_id)
    requests = {"cpu": job.resources.cpu_request, "memory": job.resources.memory_request}
    limits = {
        k: v
        for k, v in (("cpu", job.resources.cpu_limit), ("memory", job.resources.memory_limit))
        if v is not None
    }
    values.update(
        name=object_name(dag_id, job.task_id, run_id),
        annotations={},
        command=["python3", "-m", job.module] if job.module else list(job.command),
        args=list(args),
        resources={"requests": requests, **({"limits": limits} if limits else {})},
        backoff_limit=BACKOFF_LIMIT,
        pod_failure_policy=[
            {
                "action": "Ignore",
                "on_pod_conditions": [{"type": "DisruptionTarget", "status": "True"}],
            },
            {
                "action": "FailJob",
                "on_exit_codes": {
                    "container_name": "base",
                    "operator": "In",
                    "codes": list(FAIL_JOB_EXIT_CODES),
                },
            },
        ],
        active_deadline_seconds=int(job.timeout.total_seconds()),
        ttl_seconds_after_finished=3600,
        automount_service_account_token="false",
        read_only_root_filesystem="false",
    )
    if comp.working_dir:
        values["working_dir"] = comp.working_dir
    if comp.run_as_user is not None:
        values["run_as_user"] = comp.run_as_user
    return values


def spark_values(
    job: Job, env: PipelineEnv, *, dag_id: str, args: list[str], run_id: str | None = None
) -> dict[str, Any]:
    """Context of ``sparkapplication.yaml.j2`` for a Spark task."""
    sizing = job.spark
    if sizing is None:
        raise TemplateError(f"job {job.task_id} is not a Spark job")
    values = _pod_settings(job, env, dag_id=dag_id)
    name = object_name(dag_id, job.task_id, run_id)
    values.update(
        name=name,
        spark_version=SPARK_VERSION,
        main_application_file=job.main_application_file,
        arguments=list(args),
        spark_conf={"spark.metrics.namespace": name},
        time_to_live_seconds=3600,
        secrets=[],
        prometheus={
            "jmx_exporter_jar": JMX_EXPORTER_JAR,
            "config_file": JMX_CONFIG,
            "port": JMX_PORT,
        },
        pods=[
            {
                "role": "driver",
                "cores": sizing.driver_cores,
                "core_limit": sizing.driver_core_limit,
                "memory": sizing.driver_memory,
                "memory_overhead": sizing.memory_overhead,
                "annotations": dict(DRIVER_ANNOTATIONS),
            },
            {
                "role": "executor",
                "instances": sizing.executor_instances,
                "cores": sizing.executor_cores,
                "core_limit": sizing.executor_core_limit,
                "memory": sizing.executor_memory,
                "memory_overhead": sizing.memory_overhead,
                "annotations": {},
            },
        ],
    )
    return values


def manifest(
    job: Job, env: PipelineEnv, *, dag_id: str, args: list[str], run_id: str | None = None
) -> dict[str, Any]:
    """The Kubernetes object of ``job`` for one run (a Job or a SparkApplication), named after
    the run so that a retry finds it."""
    if job.kind == "spark":
        values = spark_values(job, env, dag_id=dag_id, args=args, run_id=run_id)
        return render(SPARK_TEMPLATE, values)
    return render(JOB_TEMPLATE, job_values(job, env, dag_id=dag_id, args=args, run_id=run_id))


SAMPLE_RUN_ID = "manual__2024-02-01T00:00:00+00:00"
SAMPLE_ENV = {
    "JOBS_NAMESPACE": "taxi-jobs",
    "JOBS_NODE_POOL": "jobs",
    "IMAGE_SPARK": "europe-docker.pkg.dev/p/taxi/spark@sha256:" + "a" * 64,
    "IMAGE_DBT": "europe-docker.pkg.dev/p/taxi/dbt@sha256:" + "b" * 64,
    "IMAGE_ML": "europe-docker.pkg.dev/p/taxi/ml@sha256:" + "c" * 64,
    "IMAGE_CLOUD_SDK": "europe-docker.pkg.dev/p/taxi/mirror/google-cloud-cli@sha256:" + "d" * 64,
}


def job_table_cases() -> dict[str, dict[str, Any]]:
    """``{"<dag>.<task>": {"template", "values"}}`` for every job of every enabled dataset,
    with a sample pipeline env and the job's arguments as written (templates unrendered)."""
    from common import datasets
    from common.jobs import batch_jobs, full_refresh_jobs
    from common.pipeline_env import read

    env = read(SAMPLE_ENV)
    cases = {}
    for ds in datasets.enabled():
        for dag_id, table in (
            (ds.batch_dag_id, batch_jobs(ds)),
            (ds.full_refresh_dag_id, full_refresh_jobs(ds)),
        ):
            for job in table:
                args = [*job.args, *(x for pair in job.optional_args for x in pair)]
                build = spark_values if job.kind == "spark" else job_values
                cases[f"{dag_id}.{job.task_id}"] = {
                    "template": TEMPLATE_OF_KIND[job.kind],
                    "values": build(job, env, dag_id=dag_id, args=args, run_id=SAMPLE_RUN_ID),
                }
    return cases


def parity_cases(fixtures: Path) -> dict[str, dict[str, Any]]:
    """Every fixture (``*.values.json``: ``{"template", "values"}``) and every job-table case,
    each with its Jinja2 rendering under ``rendered``."""
    cases = {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(fixtures.glob("*.values.json"))
    }
    cases.update(job_table_cases())
    return {
        name: {**case, "rendered": render(case["template"], case["values"])}
        for name, case in cases.items()
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m common.templates FIXTURE_DIR  (prints the parity cases as JSON)")
    json.dump(parity_cases(Path(sys.argv[1])), sys.stdout, sort_keys=True)
