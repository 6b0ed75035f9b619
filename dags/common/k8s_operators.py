"""Runtime ``kubernetes``: the official cncf-kubernetes operators, fed with rendered templates.

The operators do not Jinja-render a template file's contents themselves, so each subclass
renders ``dags/templates/<kind>.yaml.j2`` at execution time (after Airflow rendered the job's
arguments) and passes the resulting dict on:

* :class:`JobOperator` → ``KubernetesJobOperator(full_job_spec=V1Job, pod_template_dict=…)``,
  waits for completion and streams the pod's logs;
* :class:`SparkApplicationOperator` → ``SparkKubernetesOperator(template_spec=…)``.

Imported only when ``PLATFORM_RUNTIME=kubernetes`` (the Kubernetes client is a heavy import).
"""

from __future__ import annotations

import copy
from typing import Any

from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator
from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator
from kubernetes.client import ApiClient
from kubernetes.client import models as k8s

from common import pipeline_env, templates
from common.jobs import Job
from common.runners import final_args


def to_v1_job(manifest: dict[str, Any]) -> k8s.V1Job:
    """Deserialize a Job manifest into the client's model (unknown fields are dropped by the
    client, which is why the templates are validated strictly in the tests)."""
    return ApiClient()._ApiClient__deserialize(copy.deepcopy(manifest), "V1Job")


def split_job(manifest: dict[str, Any]) -> tuple[k8s.V1Job, dict[str, Any]]:
    """(the Job, its pod template as a Pod dict) for the Job operator.

    The operator builds the Job's pod from its Pod-operator fields on top of
    ``pod_template_dict`` and then merges that Job over ``full_job_spec``, concatenating list
    fields: so the pod lives only in ``pod_template_dict`` and the Job keeps an empty one.
    """
    pod = {"apiVersion": "v1", "kind": "Pod", **copy.deepcopy(manifest["spec"]["template"])}
    job = copy.deepcopy(manifest)
    job["spec"]["template"] = {"metadata": {}, "spec": {"containers": []}}
    return to_v1_job(job), pod


JOB_TEMPLATE_FIELDS = ("job_arguments", "job_optional_arguments")


class _RenderedJob:
    """What both operators share: the job's arguments as template fields, the manifest rendered
    from the job's template at execution time, and ``prepare`` (per operator) to hand it over."""

    job: Job
    job_dag_id: str
    job_arguments: list[Any]
    job_optional_arguments: list[list[Any]]

    @staticmethod
    def job_defaults(job: Job, kwargs: dict[str, Any]) -> dict[str, Any]:
        kwargs.setdefault("execution_timeout", job.timeout)
        kwargs.setdefault("doc_md", job.doc or None)
        return kwargs

    def bind_job(self, job: Job, dag_id: str) -> None:
        self.job = job
        self.job_dag_id = dag_id
        self.job_arguments = list(job.args)
        self.job_optional_arguments = [list(p) for p in job.optional_args]

    def render_manifest(self) -> dict[str, Any]:
        args = final_args(self.job_arguments, self.job_optional_arguments)
        return templates.manifest(self.job, pipeline_env.read(), dag_id=self.job_dag_id, args=args)

    def prepare(self, manifest: dict[str, Any]) -> None:
        raise NotImplementedError

    def execute(self, context: Any) -> Any:
        self.prepare(self.render_manifest())
        return super().execute(context)  # type: ignore[misc]


class JobOperator(_RenderedJob, KubernetesJobOperator):
    template_fields = (*KubernetesJobOperator.template_fields, *JOB_TEMPLATE_FIELDS)
    ui_color = "#cfe2f3"

    def __init__(self, *, job: Job, dag_id: str, **kwargs: Any) -> None:
        super().__init__(
            wait_until_job_complete=True,
            get_logs=True,
            do_xcom_push=False,
            job_poll_interval=15,
            on_finish_action="delete_succeeded_pod",
            **self.job_defaults(job, kwargs),
        )
        self.bind_job(job, dag_id)

    def prepare(self, manifest: dict[str, Any]) -> None:
        self.full_job_spec, self.pod_template_dict = split_job(manifest)
        self.namespace = manifest["metadata"]["namespace"]
        self.name = manifest["metadata"]["name"]
        self.base_container_name = "base"


class SparkApplicationOperator(_RenderedJob, SparkKubernetesOperator):
    template_fields = (*SparkKubernetesOperator.template_fields, *JOB_TEMPLATE_FIELDS)
    ui_color = "#f4cccc"

    def __init__(self, *, job: Job, dag_id: str, **kwargs: Any) -> None:
        super().__init__(
            get_logs=True, delete_on_termination=True, **self.job_defaults(job, kwargs)
        )
        self.bind_job(job, dag_id)

    def prepare(self, manifest: dict[str, Any]) -> None:
        self.template_spec = {"spark": manifest}
        self.namespace = manifest["metadata"]["namespace"]
        self.name = manifest["metadata"]["name"]


def operator_for(job: Job, *, dag_id: str, **kwargs: Any):
    cls = SparkApplicationOperator if job.kind == "spark" else JobOperator
    return cls(task_id=job.task_id, job=job, dag_id=dag_id, **kwargs)
