"""Which engine runs a dataset's load and transform steps (``load:`` / ``transform:`` of an entry
in ``dags/datasets.yaml``), validated when the registry is read.

* ``in-cluster`` (default): today's jobs (the Spark ``load`` SparkApplication, the dbt
  ``dbt_build`` Job) on the platform's own cluster.
* ``dbt-cloud`` (transform only): a dbt Cloud job, ``account_id`` + ``job_id``, through the
  connection ``connection`` (default ``dbt_cloud_default``).
* ``databricks`` (load or transform): an existing Databricks job (``job_id``, run with
  ``run-now`` and job parameters) or a one-time run of a ``task`` spec (``runs/submit``: a
  ``notebook_task`` or ``python_wheel_task`` plus its compute), through ``connection`` (default
  ``databricks_default``).

Every remote run gets the month (``YYYY-MM``) and the staged file's URI as parameters
``month`` and ``file_uri``. Nothing here imports a provider: this module is read at DAG parse
time. A bad entry raises :class:`EngineError` naming the dataset, the field and the fix; the
registry reader turns it into a ``RegistryError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

IN_CLUSTER = "in-cluster"
DBT_CLOUD = "dbt-cloud"
DATABRICKS = "databricks"
# step -> engines it may run on
STEP_ENGINES: dict[str, tuple[str, ...]] = {
    "load": (IN_CLUSTER, DATABRICKS),
    "transform": (IN_CLUSTER, DBT_CLOUD, DATABRICKS),
}
DEFAULT_CONNECTIONS = {DBT_CLOUD: "dbt_cloud_default", DATABRICKS: "databricks_default"}
# Airflow connection ids the platform keeps in Secret Manager (<prefix>-connections-<id>): the
# same rule as the stack option `airflowConnections` (stacks/config.ts).
CONNECTION_ID_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Databricks task kinds of a `task` spec and the dict field the run's parameters go into.
DATABRICKS_TASK_PARAMS = {
    "notebook_task": "base_parameters",
    "python_wheel_task": "named_parameters",
}
DATABRICKS_COMPUTE = ("existing_cluster_id", "new_cluster", "environment_key", "job_cluster_key")
DEFAULT_TIMEOUT_MINUTES = 120
_FIELDS = {
    IN_CLUSTER: {"engine"},
    DBT_CLOUD: {"engine", "connection", "account_id", "job_id", "timeout_minutes"},
    DATABRICKS: {"engine", "connection", "job_id", "task", "timeout_minutes"},
}


class EngineError(ValueError):
    """A ``load`` / ``transform`` entry is malformed; the message names dataset, field, fix."""


@dataclass(frozen=True)
class Engine:
    """Where one step runs. ``job_id`` / ``task`` / ``account_id`` only for remote engines."""

    kind: str = IN_CLUSTER
    connection: str | None = None
    job_id: int | None = None
    account_id: int | None = None
    task: dict[str, Any] | None = field(default=None, hash=False, compare=True)
    timeout_minutes: int = DEFAULT_TIMEOUT_MINUTES

    @property
    def remote(self) -> bool:
        return self.kind != IN_CLUSTER

    @property
    def timeout(self) -> timedelta:
        return timedelta(minutes=self.timeout_minutes)

    @property
    def task_param_field(self) -> str | None:
        """The dict field of the ``task`` spec that gets ``month`` and ``file_uri``."""
        if not self.task:
            return None
        return next(DATABRICKS_TASK_PARAMS[k] for k in DATABRICKS_TASK_PARAMS if k in self.task)


IN_CLUSTER_ENGINE = Engine()


def _positive_int(value: object, where: str, name: str, fix: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise EngineError(f"{where}.{name}={value!r} must be a positive integer; {fix}")
    return value


def _task_spec(raw: object, where: str) -> dict[str, Any]:
    kinds = sorted(DATABRICKS_TASK_PARAMS)
    if not isinstance(raw, dict):
        raise EngineError(
            f"{where}.task must be a mapping with one of {', '.join(kinds)} and its compute "
            f"({', '.join(DATABRICKS_COMPUTE)}), as in the Databricks runs/submit API."
        )
    present = [k for k in kinds if k in raw]
    if len(present) != 1:
        raise EngineError(
            f"{where}.task must hold exactly one of {', '.join(kinds)} (found "
            f"{', '.join(present) or 'none'}); other task kinds take no named parameters, so "
            "the month and file URI could not reach them."
        )
    body = raw[present[0]]
    if not isinstance(body, dict):
        raise EngineError(f"{where}.task.{present[0]} must be a mapping.")
    if present[0] == "notebook_task" and not str(body.get("notebook_path") or "").strip():
        raise EngineError(f"{where}.task.notebook_task.notebook_path is required.")
    if present[0] == "python_wheel_task" and not (
        str(body.get("package_name") or "").strip() and str(body.get("entry_point") or "").strip()
    ):
        raise EngineError(f"{where}.task.python_wheel_task needs package_name and entry_point.")
    param_field = DATABRICKS_TASK_PARAMS[present[0]]
    clash = {"month", "file_uri"} & set(body.get(param_field) or {})
    if clash:
        raise EngineError(
            f"{where}.task.{present[0]}.{param_field} sets {', '.join(sorted(clash))}; the DAG "
            "passes these per run, remove them."
        )
    if not any(k in raw for k in DATABRICKS_COMPUTE) and "environments" not in raw:
        raise EngineError(
            f"{where}.task has no compute: add existing_cluster_id, new_cluster, or "
            "environment_key + environments (serverless)."
        )
    return raw


def parse_step(raw: object, *, dataset: str, step: str, source: str) -> Engine:
    """The :class:`Engine` of ``step`` (``load`` / ``transform``) of one registry entry."""
    where = f"{source}: dataset {dataset!r} {step}"
    allowed = STEP_ENGINES[step]
    if raw is None:
        return IN_CLUSTER_ENGINE
    if isinstance(raw, str):
        raw = {"engine": raw}
    if not isinstance(raw, dict):
        raise EngineError(
            f"{where} must be a mapping with 'engine' (one of {', '.join(allowed)}), not {raw!r}."
        )
    kind = raw.get("engine", IN_CLUSTER)
    if kind not in allowed:
        raise EngineError(
            f"{where}.engine={kind!r} is not a {step} engine; use one of {', '.join(allowed)}."
        )
    unknown = sorted(set(raw) - _FIELDS[kind])
    if unknown:
        raise EngineError(
            f"{where} has field(s) {', '.join(unknown)} that engine {kind!r} does not take; "
            f"allowed: {', '.join(sorted(_FIELDS[kind]))}."
        )
    if kind == IN_CLUSTER:
        return IN_CLUSTER_ENGINE
    connection = raw.get("connection", DEFAULT_CONNECTIONS[kind])
    if not isinstance(connection, str) or not CONNECTION_ID_RE.match(connection):
        raise EngineError(
            f"{where}.connection={connection!r} must be an Airflow connection id (lower-case "
            "letters, digits, '_', starting with a letter); it must also be listed in the "
            "stack's taxi-platform:airflowConnections so its secret exists."
        )
    timeout = _positive_int(
        raw.get("timeout_minutes", DEFAULT_TIMEOUT_MINUTES),
        where,
        "timeout_minutes",
        "it bounds the remote run (the run is cancelled when it is exceeded).",
    )
    if kind == DBT_CLOUD:
        for name in ("account_id", "job_id"):
            if name not in raw:
                raise EngineError(
                    f"{where}: engine dbt-cloud needs {name} (the number in the dbt Cloud URL "
                    f".../deploy/<account_id>/projects/.../jobs/<job_id>)."
                )
        return Engine(
            kind,
            connection,
            job_id=_positive_int(raw["job_id"], where, "job_id", "the dbt Cloud job's id."),
            account_id=_positive_int(
                raw["account_id"], where, "account_id", "the dbt Cloud account's id."
            ),
            timeout_minutes=timeout,
        )
    has_job, has_task = "job_id" in raw, "task" in raw
    if has_job == has_task:
        raise EngineError(
            f"{where}: engine databricks needs exactly one of job_id (an existing Databricks "
            "job, run with run-now) or task (a notebook_task / python_wheel_task spec, run "
            f"with runs/submit); {'both are' if has_job else 'neither is'} set."
        )
    if has_job:
        job_id = _positive_int(raw["job_id"], where, "job_id", "the Databricks job's id.")
        return Engine(kind, connection, job_id=job_id, timeout_minutes=timeout)
    return Engine(kind, connection, task=_task_spec(raw["task"], where), timeout_minutes=timeout)


def connections(engines: list[Engine] | tuple[Engine, ...]) -> tuple[str, ...]:
    """Sorted distinct connection ids the remote engines use."""
    return tuple(sorted({e.connection for e in engines if e.remote and e.connection}))
