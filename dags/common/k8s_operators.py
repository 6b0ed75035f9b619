"""Runtime ``kubernetes``: the official cncf-kubernetes operators, fed with rendered templates.

Imported only when a task executes (:class:`common.runners.KubernetesTask`), never when a DAG
file is parsed: the provider and the Kubernetes client are heavy imports. At execution the
task renders ``dags/templates/<kind>.yaml.j2`` for its run and hands the dict to:

* :class:`JobOperator` → ``KubernetesJobOperator(full_job_spec=V1Job, pod_template_dict=…)``,
  waits for completion and streams the pod's logs;
* :class:`SparkApplicationOperator` → ``SparkKubernetesOperator(template_spec=…)``.

Both keep the job's JSON summary for the task's XCom (:class:`SummaryFromLog`): when the
operator is done with a pod that succeeded, and before it deletes it, the end of the main
container's log is read (``GET pods/<pod>/log?container=…&tailLines=…``, the same ``get
pods/log`` the operators stream logs with) and its summary line kept. The provider's own XCom
(``do_xcom_push``) is not used: for a Job it needs a sidecar in the job's pod, the job writing
``/airflow/xcom/return.json`` and ``create pods/exec`` in the jobs namespace; the summary is
already the last stdout line of every job (the job CLI contract).

Retries are safe: the object is named after the run and task (:func:`common.jobs.object_name`,
no random suffix), and before creating it the operator looks for the object of an earlier try.
A Job that is still running or has succeeded is adopted (waited for, not started again); a
failed one is deleted (with its pods) and created anew. A SparkApplication whose driver is
still alive is reattached by the provider itself (``reattach_on_restart``); any other leftover
application of the same name is deleted before the new one is created. The pod of a Job is
looked for with a bound (``POD_DISCOVERY_TIMEOUT``), and the Job is deleted when none appears.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from airflow.providers.cncf.kubernetes.operators.job import KubernetesJobOperator
from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator
from airflow.sdk.exceptions import AirflowException
from kubernetes.client import ApiClient
from kubernetes.client import models as k8s
from kubernetes.client.exceptions import ApiException

from common.jobs import Job

POD_DISCOVERY_TIMEOUT = 300.0  # seconds for the Job controller to create the Job's pod
GONE_TIMEOUT = 300.0  # seconds for a deleted object (and its pods) to disappear
POLL_SECONDS = 5.0
# Lines read from the end of a succeeded pod's log for its summary: the summary and what may
# follow it (log events, the Spark driver's shutdown lines).
SUMMARY_TAIL_LINES = 200
SPARK_FAILED_STATES = ("FAILED", "SUBMISSION_FAILED", "FAILING", "INVALIDATING", "UNKNOWN")


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


def job_state(job: k8s.V1Job) -> str:
    """``running``, ``succeeded`` or ``failed`` from the Job's final conditions."""
    for cond in (job.status.conditions if job.status else None) or []:
        if cond.status == "True" and cond.type in ("Complete", "SuccessCriteriaMet"):
            return "succeeded"
        if cond.status == "True" and cond.type in ("Failed", "FailureTarget"):
            return "failed"
    return "running"


def _not_found(exc: ApiException) -> bool:
    return exc.status == 404


class SummaryFromLog:
    """Mixin for the official operators: keep the job's summary (``job_summary``) from the end
    of the log of a pod that succeeded, read in ``post_complete_action``, which both the Job
    and the pod operator call for each pod they followed before deleting it. A failed read is
    logged and leaves no summary; it never fails the task."""

    job_summary: Any = None

    def post_complete_action(
        self, *, pod: k8s.V1Pod, remote_pod: k8s.V1Pod, context: Any, result: Any, **kwargs: Any
    ) -> None:
        try:
            self._keep_summary(remote_pod)
        finally:
            super().post_complete_action(
                pod=pod, remote_pod=remote_pod, context=context, result=result, **kwargs
            )

    def _keep_summary(self, pod: k8s.V1Pod | None) -> None:
        from common.runners import summary_from_log

        phase = getattr(getattr(pod, "status", None), "phase", None)
        if pod is None or phase != "Succeeded":
            return
        name, namespace = pod.metadata.name, pod.metadata.namespace
        try:
            # The raw bytes: the client's deserializer json.loads() the body (a log that is
            # one JSON line comes back as a dict) or else returns str() of the bytes.
            response = self.client.read_namespaced_pod_log(
                name=name,
                namespace=namespace,
                container=self.base_container_name,
                tail_lines=SUMMARY_TAIL_LINES,
                _preload_content=False,
            )
            try:
                text = response.data.decode("utf-8", errors="replace")
            finally:
                response.release_conn()
        except Exception as exc:  # noqa: BLE001 - the summary is secondary to the job's outcome
            self.log.warning("No summary: reading the log of pod %s failed: %s", name, exc)
            return
        self.job_summary = summary_from_log(text)
        if self.job_summary is None:
            self.log.warning("No JSON summary at the end of the log of pod %s", name)


def job_summary(operator: Any) -> Any:
    """The summary an operator kept (:class:`SummaryFromLog`), or None."""
    return getattr(operator, "job_summary", None)


class JobOperator(SummaryFromLog, KubernetesJobOperator):
    """The official Job operator with a deterministic name, adopt-or-replace of an earlier
    try's Job, and a bounded wait for the Job's pod."""

    def __init__(self, *, job: Job, manifest: dict[str, Any], **kwargs: Any) -> None:
        full_job_spec, pod_template = split_job(manifest)
        super().__init__(
            full_job_spec=full_job_spec,
            pod_template_dict=pod_template,
            namespace=manifest["metadata"]["namespace"],
            name=manifest["metadata"]["name"],
            random_name_suffix=False,
            base_container_name="base",
            wait_until_job_complete=True,
            get_logs=True,
            do_xcom_push=False,
            parallelism=1,
            job_poll_interval=15,
            on_finish_action="delete_succeeded_pod",
            **kwargs,
        )
        self.job_description = job

    def _read_job(self, name: str, namespace: str) -> k8s.V1Job | None:
        try:
            return self.job_client.read_namespaced_job(name=name, namespace=namespace)
        except ApiException as exc:
            if _not_found(exc):
                return None
            raise

    def _delete_job_and_wait(self, name: str, namespace: str) -> None:
        try:
            self.job_client.delete_namespaced_job(
                name=name, namespace=namespace, propagation_policy="Foreground"
            )
        except ApiException as exc:
            if not _not_found(exc):
                raise
        deadline = time.monotonic() + GONE_TIMEOUT
        while self._read_job(name, namespace) is not None:
            if time.monotonic() > deadline:
                raise AirflowException(
                    f"Job {namespace}/{name} was not deleted within {GONE_TIMEOUT}s"
                )
            time.sleep(POLL_SECONDS)

    def create_job(self, job_request_obj: k8s.V1Job) -> k8s.V1Job:
        name = job_request_obj.metadata.name
        namespace = job_request_obj.metadata.namespace
        existing = self._read_job(name, namespace)
        if existing is not None:
            state = job_state(existing)
            if state != "failed":
                self.log.info("Adopting Job %s/%s of an earlier try (%s)", namespace, name, state)
                return existing
            self.log.info("Deleting failed Job %s/%s of an earlier try", namespace, name)
            self._delete_job_and_wait(name, namespace)
        return super().create_job(job_request_obj)

    def get_pods(
        self, pod_request_obj: k8s.V1Pod, context: Any, *, exclude_checked: bool = True
    ) -> list[k8s.V1Pod]:
        """The Job's newest pod, waited for up to ``POD_DISCOVERY_TIMEOUT``; none when the Job
        has already finished and its pods are gone (an adopted Job). On timeout the Job is
        deleted, so no Job outlives its task."""
        name, namespace = self.job.metadata.name, self.job.metadata.namespace
        deadline = time.monotonic() + POD_DISCOVERY_TIMEOUT
        while True:
            pods = self.client.list_namespaced_pod(
                namespace=namespace, label_selector=f"job-name={name}"
            ).items
            if pods:
                newest = max(
                    pods, key=lambda p: (p.metadata.creation_timestamp or 0, p.metadata.name)
                )
                self.log.info("Following pod %s of Job %s", newest.metadata.name, name)
                return [newest]
            job = self.hook.get_job_status(job_name=name, namespace=namespace)
            if job_state(job) != "running":
                return []
            if time.monotonic() > deadline:
                self._delete_job_and_wait(name, namespace)
                raise AirflowException(
                    f"Job {namespace}/{name} created no pod within {POD_DISCOVERY_TIMEOUT}s; "
                    "deleted it. Check the jobs node pool (scale-up, quota) and the Job's events."
                )
            time.sleep(POLL_SECONDS)


class SparkApplicationOperator(SummaryFromLog, SparkKubernetesOperator):
    """The official SparkApplication operator with a deterministic name; a leftover application
    of the same name without a live driver (an earlier, failed try) is deleted first."""

    def __init__(self, *, job: Job, manifest: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(
            template_spec={"spark": manifest},
            namespace=manifest["metadata"]["namespace"],
            name=manifest["metadata"]["name"],
            random_name_suffix=False,
            get_logs=True,
            delete_on_termination=True,
            reattach_on_restart=True,
            **kwargs,
        )
        self.job_description = job

    def _spark_app(self, group: str, version: str, plural: str) -> dict[str, Any] | None:
        try:
            return self.custom_obj_api.get_namespaced_custom_object(
                group=group,
                version=version,
                namespace=self.namespace,
                plural=plural,
                name=self.name,
            )
        except ApiException as exc:
            if _not_found(exc):
                return None
            raise

    def _replace_leftover(self, context: Any) -> None:
        _ = self.client  # loads the kubeconfig, which the custom-objects client relies on
        group, version = self.template_body["spark"]["apiVersion"].split("/")
        plural = "sparkapplications"
        app = self._spark_app(group, version, plural)
        if app is None or self.find_spark_job(context) is not None:
            return  # nothing left over, or a live driver the provider reattaches to
        state = ((app.get("status") or {}).get("applicationState") or {}).get("state", "")
        self.log.info("Deleting SparkApplication %s of an earlier try (%s)", self.name, state)
        try:
            self.custom_obj_api.delete_namespaced_custom_object(
                group=group,
                version=version,
                namespace=self.namespace,
                plural=plural,
                name=self.name,
            )
        except ApiException as exc:
            if not _not_found(exc):
                raise
        deadline = time.monotonic() + GONE_TIMEOUT
        while self._spark_app(group, version, plural) is not None:
            if time.monotonic() > deadline:
                raise AirflowException(f"SparkApplication {self.name} was not deleted in time")
            time.sleep(POLL_SECONDS)

    def execute(self, context: Any) -> Any:
        self.name = self.create_job_name()
        self._replace_leftover(context)
        return super().execute(context)


def failed_exit_code(operator: Any) -> int | None:
    """The exit code of the ``base`` container of a failed Job's newest pod, or None (not a
    Job, no pod, or the container did not terminate with a code)."""
    if not isinstance(operator, JobOperator) or getattr(operator, "job", None) is None:
        return None
    name, namespace = operator.job.metadata.name, operator.job.metadata.namespace
    try:
        pods = operator.client.list_namespaced_pod(
            namespace=namespace, label_selector=f"job-name={name}"
        ).items
    except ApiException:
        return None
    for pod in sorted(pods, key=lambda p: p.metadata.creation_timestamp or 0, reverse=True):
        for status in (pod.status and pod.status.container_statuses) or []:
            terminated = status.state and status.state.terminated
            if status.name == "base" and terminated and terminated.exit_code:
                return int(terminated.exit_code)
    return None


def operator_for(job: Job, manifest: dict[str, Any], **kwargs: Any):
    """The official operator (subclass) that runs ``manifest`` for ``job``."""
    cls = SparkApplicationOperator if job.kind == "spark" else JobOperator
    return cls(job=job, manifest=manifest, **kwargs)
