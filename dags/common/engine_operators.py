"""The official dbt Cloud and Databricks operators behind the remote engine tasks.

Imported only when a remote task executes (never at DAG parse: both providers pull in heavy
dependencies). What each provider already does is used as it is; only the gaps are filled:

* **parameters**: dbt Cloud gets ``steps_override = ["dbt build --vars '{"source_month": M,
  "file_uri": U}'"]`` (the same ``source_month`` var the in-cluster ``dbt_build`` passes) and a
  cause naming the DAG, run and month; Databricks ``run-now`` gets ``job_parameters`` and
  ``runs/submit`` the task's ``base_parameters`` / ``named_parameters``, both ``{"month": M,
  "file_uri": U}``, with an ``idempotency_token`` per run, task and try (an HTTP retry of the
  submit never starts a second run).
* **deferrable** both (the worker slot is freed while the remote run goes on; the triggerer
  polls).
* **retries of 429 / 5xx**: the Databricks hook retries them (``RETRY_LIMIT`` attempts,
  exponential wait). dbt Cloud's default is one attempt, so ``hook_params`` sets the limit, and
  on the worker its ``HttpHook.check_response`` hid the status from the retry check:
  :class:`RetryingDbtCloudHook` keeps it (the triggerer's async calls were retried already).
* **cancel**: on a worker-side kill or timeout both operators' ``on_kill`` cancel the run. A
  deferred Databricks task cleared or marked by a user is cancelled by the provider's trigger
  (``on_kill``); dbt Cloud's trigger has no ``on_kill``, so :class:`CancellingDbtCloudTrigger`
  adds it. A deferred dbt Cloud run past ``execution_timeout`` is cancelled by the provider
  (``execution_deadline``); the Databricks operator defers without a timeout (Airflow does not
  apply ``execution_timeout`` to the deferred period), so :class:`DatabricksRunNow` /
  :class:`DatabricksSubmitRun` defer with the time left and :func:`resume` cancels the run when
  that trigger timeout fires.
* **failure message**: the task fails with the engine, the run id, the run's URL and the
  engine's error (dbt Cloud: status message and failed steps; Databricks: the run state and the
  failed tasks' errors).
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta
from functools import cached_property
from typing import Any

from airflow.providers.databricks.hooks.databricks import DatabricksHook
from airflow.providers.databricks.operators.databricks import (
    DatabricksRunNowOperator,
    DatabricksSubmitRunOperator,
)
from airflow.providers.dbt.cloud.hooks.dbt import DbtCloudHook
from airflow.providers.dbt.cloud.operators.dbt import DbtCloudRunJobOperator
from airflow.providers.dbt.cloud.triggers.dbt import DbtCloudRunJobTrigger
from airflow.sdk import BaseOperator
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import AirflowException, TaskDeferred

from common.engine_tasks import ENGINE_LABELS, RemoteEngineTask
from common.engines import DATABRICKS, DBT_CLOUD
from common.log import event, get_logger

RETRY_LIMIT = 6  # attempts per API call on 429 / 5xx / connection errors
RETRY_DELAY = 2.0  # seconds, doubled per attempt (capped by the hooks at 2**RETRY_LIMIT)
POLL_SECONDS = 30  # status polls of the triggerer
# XCom keys the providers push: (run id, run URL)
RUN_XCOMS = {DBT_CLOUD: ("job_run_id", "job_run_url"), DATABRICKS: ("run_id", "run_page_url")}


# --- dbt Cloud --------------------------------------------------------------------------------
class RetryingDbtCloudHook(DbtCloudHook):
    """The provider's hook with its retries working for HTTP 429 / 5xx.

    The hook retries exceptions its ``_retryable_error`` accepts (requests errors carrying a
    429 / 5xx response), but ``HttpHook.check_response`` turns every HTTP error into a bare
    ``AirflowException`` first, so only connection errors were retried on the worker. Here a
    429 / 5xx stays the ``requests`` error (with its response), and the provider's own retry
    (``retry_limit``, exponential wait) applies; other statuses fail as before.
    """

    def check_response(self, response) -> None:
        if response.status_code == 429 or response.status_code >= 500:
            self.log.warning(
                "dbt Cloud answered HTTP %s for %s; retrying", response.status_code, response.url
            )
            response.raise_for_status()
        super().check_response(response)


def dbt_hook(conn_id: str) -> RetryingDbtCloudHook:
    return RetryingDbtCloudHook(conn_id, retry_limit=RETRY_LIMIT, retry_delay=RETRY_DELAY)


class CancellingDbtCloudTrigger(DbtCloudRunJobTrigger):
    """The provider's trigger plus ``on_kill``: a deferred task cleared or marked by a user
    cancels its dbt Cloud run (the provider's trigger leaves it running)."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        _, kwargs = super().serialize()
        return f"{__name__}.CancellingDbtCloudTrigger", kwargs

    async def on_kill(self) -> None:
        import asyncio

        hook = RetryingDbtCloudHook(self.conn_id, **self.hook_params)
        self.log.info("Cancelling dbt Cloud run %s (task cleared or marked).", self.run_id)
        await asyncio.to_thread(hook.cancel_job_run, run_id=self.run_id, account_id=self.account_id)


class DbtCloudRun(DbtCloudRunJobOperator):
    """The official run-job operator with :class:`RetryingDbtCloudHook`, deferring to
    :class:`CancellingDbtCloudTrigger`."""

    @cached_property
    def hook(self):
        return RetryingDbtCloudHook(self.dbt_cloud_conn_id, **self.hook_params)

    def defer(self, *, trigger, method_name, kwargs=None, timeout=None):
        if type(trigger) is DbtCloudRunJobTrigger:
            _, args = trigger.serialize()
            trigger = CancellingDbtCloudTrigger(**args)
        super().defer(trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)


def dbt_cloud_steps(month: str, file_uri: str) -> list[str]:
    """The dbt command of the run: the in-cluster ``dbt_build``'s, with the file's URI too."""
    variables = json.dumps({"source_month": month, "file_uri": file_uri})
    return [f"dbt build --vars '{variables}'"]


# --- Databricks -------------------------------------------------------------------------------
class _DeferWithDeadline:
    """Defer with the time left before ``deadline`` (epoch seconds) instead of none."""

    deadline: float | None = None

    def defer(self, *, trigger, method_name, kwargs=None, timeout=None):
        if timeout is None and self.deadline is not None:
            timeout = timedelta(seconds=max(1.0, self.deadline - time.time()))
        super().defer(trigger=trigger, method_name=method_name, kwargs=kwargs, timeout=timeout)


class DatabricksRunNow(_DeferWithDeadline, DatabricksRunNowOperator):
    """``run-now`` of an existing job with job parameters; deferred with a timeout."""


class DatabricksSubmitRun(_DeferWithDeadline, DatabricksSubmitRunOperator):
    """``runs/submit`` of a one-time task spec; deferred with a timeout."""


def idempotency_token(dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
    """Same token for the same try (an HTTP retry of the submit returns the same run); a new
    try starts a new run."""
    key = f"{dag_id}\n{run_id}\n{task_id}\n{try_number}".encode()
    return hashlib.sha256(key).hexdigest()[:48]


# --- building and running -----------------------------------------------------------------------
def _params(task: RemoteEngineTask) -> dict[str, str]:
    month, uri = str(task.month or "").strip(), str(task.file_uri or "").strip()
    if not month or not uri:
        raise AirflowException(
            f"{task.task_id}: the run has no month or file URI from check_conf "
            f"(month={month!r}, file_uri={uri!r}); run the whole DAG, not this task alone."
        )
    return {"month": month, "file_uri": uri}


def operator_for(task: RemoteEngineTask, context: Any | None = None) -> BaseOperator:
    """The official operator (subclass) of ``task``'s engine, for this run."""
    engine, params = task.engine, _params(task)
    common: dict[str, Any] = {
        "task_id": task.task_id,
        "deferrable": True,
        "execution_timeout": task.execution_timeout,
    }
    if engine.kind == DBT_CLOUD:
        run_id = context["run_id"] if context else ""
        return DbtCloudRun(
            dbt_cloud_conn_id=engine.connection,
            account_id=engine.account_id,
            job_id=engine.job_id,
            steps_override=dbt_cloud_steps(params["month"], params["file_uri"]),
            trigger_reason=(
                f"Airflow {task.engine_dag_id}/{task.task_id} month {params['month']} run {run_id}"
            )[:255],
            check_interval=POLL_SECONDS,
            hook_params={"retry_limit": RETRY_LIMIT, "retry_delay": RETRY_DELAY},
            **common,
        )
    retry = {"databricks_retry_limit": RETRY_LIMIT, "databricks_retry_delay": RETRY_DELAY}
    token = None
    if context:
        token = idempotency_token(
            task.engine_dag_id, context["run_id"], task.task_id, context["ti"].try_number
        )
    if engine.job_id is not None:
        op: _DeferWithDeadline = DatabricksRunNow(
            databricks_conn_id=engine.connection,
            job_id=str(engine.job_id),
            job_parameters=params,
            idempotency_token=token,
            polling_period_seconds=POLL_SECONDS,
            forward_dag_params=False,
            **retry,
            **common,
        )
    else:
        spec = json.loads(json.dumps(engine.task))  # a copy: the registry entry stays as read
        kind = next(k for k in ("notebook_task", "python_wheel_task") if k in spec)
        field = engine.task_param_field
        spec[kind][field] = {**(spec[kind].get(field) or {}), **params}
        spec.setdefault("task_key", task.task_id)
        op = DatabricksSubmitRun(
            databricks_conn_id=engine.connection,
            json={
                "run_name": f"{task.engine_dag_id}-{task.task_id}-{params['month']}",
                "tasks": [spec],
                **({"idempotency_token": token} if token else {}),
            },
            polling_period_seconds=POLL_SECONDS,
            **retry,
            **common,
        )
    if task.execution_timeout is not None:
        op.deadline = time.time() + task.execution_timeout.total_seconds()
    return op


def _xcom(task: RemoteEngineTask, context: Any, key: str) -> Any:
    return context["ti"].xcom_pull(task_ids=task.task_id, key=key)


def _run_ref(task: RemoteEngineTask, context: Any) -> tuple[Any, Any]:
    id_key, url_key = RUN_XCOMS[task.engine.kind]
    return _xcom(task, context, id_key), _xcom(task, context, url_key)


def _engine_error(task: RemoteEngineTask, run_id: Any) -> str:
    """The engine's own account of a failed run (best effort: the API may be what failed)."""
    if task.engine.kind != DBT_CLOUD or run_id is None:
        return ""
    try:
        data = (
            dbt_hook(task.engine.connection)
            .get_job_run(
                run_id=int(run_id), account_id=task.engine.account_id, include_related=["run_steps"]
            )
            .json()["data"]
        )
    except Exception as exc:  # noqa: BLE001 - the failure itself is reported either way
        return f"(could not read the run's details: {exc})"
    parts = [str(data.get("status_humanized") or data.get("status") or "")]
    if data.get("status_message"):
        parts.append(str(data["status_message"]))
    for step in data.get("run_steps") or []:
        if step.get("status") == 20:
            parts.append(f"failed step {step.get('name')}: {step.get('logs') or ''}".strip())
    return "; ".join(p for p in parts if p)


def _explained(task: RemoteEngineTask, context: Any, exc: Exception) -> AirflowException:
    run_id, url = _run_ref(task, context)
    label = ENGINE_LABELS[task.engine.kind]
    detail = _engine_error(task, run_id)
    event(
        get_logger("engines"),
        "remote_run_failed",
        task=task.task_id,
        engine=task.engine.kind,
        run_id=run_id,
        run_url=url,
    )
    return AirflowException(
        f"{task.task_id}: {label} run {run_id} failed. Run: {url or '(no URL: not started)'}. "
        f"Error: {exc}" + (f" | {label}: {detail}" if detail else "")
    )


def _guarded(task: RemoteEngineTask, context: Any, call) -> Any:
    try:
        return call()
    except TaskDeferred:
        raise
    except Exception as exc:
        raise _explained(task, context, exc) from exc


def run(task: RemoteEngineTask, context: Any) -> Any:
    """Start the remote run (the provider defers to the triggerer while it runs)."""
    op = operator_for(task, context)
    task._official = op
    event(
        get_logger("engines"),
        "remote_run_starting",
        task=task.task_id,
        engine=task.engine.kind,
        job_id=task.engine.job_id,
        month=task.month,
        file_uri=task.file_uri,
    )
    return _guarded(task, context, lambda: op.execute(context))


def complete(task: RemoteEngineTask, context: Any, event_: dict[str, Any] | None) -> Any:
    """The trigger's event back on a worker: the provider's completion, failures explained."""
    op = operator_for(task, context)
    task._official = op
    return _guarded(task, context, lambda: op.execute_complete(context, event_))


def cancel(task: RemoteEngineTask, run_id: Any) -> None:
    """Cancel the remote run ``run_id`` (best effort, logged)."""
    log = get_logger("engines")
    if run_id is None:
        return
    if task.engine.kind == DBT_CLOUD:
        dbt_hook(task.engine.connection).cancel_job_run(
            run_id=int(run_id), account_id=task.engine.account_id
        )
    else:
        DatabricksHook(
            task.engine.connection, retry_limit=RETRY_LIMIT, retry_delay=RETRY_DELAY
        ).cancel_run(int(run_id))
    event(log, "remote_run_cancelled", task=task.task_id, engine=task.engine.kind, run_id=run_id)


def resume(task: RemoteEngineTask, next_method: str, next_kwargs: dict | None, context: Any):
    """Resumption after deferral; a trigger timeout cancels the remote run before failing."""
    timed_out = (next_kwargs or {}).get("error") == TriggerFailureReason.TRIGGER_TIMEOUT
    if next_method == TRIGGER_FAIL_REPR and timed_out:
        run_id, url = _run_ref(task, context)
        try:
            cancel(task, run_id)
        finally:
            raise AirflowException(
                f"{task.task_id}: {ENGINE_LABELS[task.engine.kind]} run {run_id} exceeded the "
                f"task's execution_timeout ({task.execution_timeout}) and was cancelled. "
                f"Run: {url}"
            )
    return BaseOperator.resume_execution(task, next_method, next_kwargs, context)


def kill(task: RemoteEngineTask) -> None:
    """Worker-side kill or timeout: the provider's ``on_kill`` (cancels its run)."""
    official = getattr(task, "_official", None)
    if official is not None:
        official.on_kill()
