"""The batch DAG's steps that run on an external engine (dbt Cloud, Databricks), built at parse
time without importing either provider.

Like :class:`common.runners.KubernetesTask`, :class:`RemoteEngineTask` is light when a DAG file
is parsed: it keeps the dataset's :class:`~common.engines.Engine` and the run's values as
Airflow templates (``month`` and the staged file's URI from ``check_conf``). When it executes
it builds the official operator (:mod:`common.engine_operators`, imported only then) and runs
it; a deferred run resumes here (``execute_complete``) and is handed back to a fresh official
operator. The remote run's id and URL are XComs of the task (the providers push them), so a
resumed, timed-out or killed task can find and cancel the run.

Steps (``batch_steps``): ``load`` → ``load_databricks`` when ``load.engine: databricks``;
``dbt_build`` → ``transform_dbt_cloud`` / ``transform_databricks`` for the transform engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseOperator

from common.datasets import Dataset
from common.engines import DATABRICKS, DBT_CLOUD, Engine
from common.jobs import Job, run_value

# The in-cluster job each step replaces, and the remote task id per engine.
STEP_JOBS = {"load": "load", "transform": "dbt_build"}
TASK_IDS = {
    ("load", DATABRICKS): "load_databricks",
    ("transform", DBT_CLOUD): "transform_dbt_cloud",
    ("transform", DATABRICKS): "transform_databricks",
}
ENGINE_LABELS = {DBT_CLOUD: "dbt Cloud", DATABRICKS: "Databricks"}


@dataclass(frozen=True)
class RemoteStep:
    """One batch step on an external engine (what the factory turns into a task)."""

    step: str  # load | transform
    engine: Engine
    dataset: str
    beside_previous: bool = False  # as Job.beside_previous: a remote step follows the one before

    @property
    def task_id(self) -> str:
        return TASK_IDS[(self.step, self.engine.kind)]

    def operator(self, dag_id: str, **kwargs: Any) -> RemoteEngineTask:
        return RemoteEngineTask(
            task_id=self.task_id, step=self.step, engine=self.engine, dag_id=dag_id, **kwargs
        )


def batch_steps(dataset: Dataset, jobs: Sequence[Job]) -> list[Job | RemoteStep]:
    """``jobs`` with the dataset's remote steps in place of the in-cluster jobs they replace."""
    replace = {
        STEP_JOBS[step]: RemoteStep(step, engine, dataset.name)
        for step, engine in (("load", dataset.load), ("transform", dataset.transform))
        if engine.remote
    }
    return [replace.get(job.task_id, job) for job in jobs]


class RemoteEngineTask(BaseOperator):
    """A dbt Cloud job run or Databricks run for one batch run; the month and the staged file's
    URI reach the remote job as parameters ``month`` and ``file_uri``."""

    template_fields = ("month", "file_uri")
    ui_color = "#fce5cd"

    def __init__(self, *, step: str, engine: Engine, dag_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("execution_timeout", engine.timeout)
        kwargs.setdefault(
            "doc_md",
            f"{step} on {ENGINE_LABELS[engine.kind]} "
            f"({'job ' + str(engine.job_id) if engine.job_id else 'one-time run'}, "
            f"connection `{engine.connection}`); cancelled when the task is cleared, "
            "marked or times out.",
        )
        super().__init__(**kwargs)
        self.step = step
        self.engine = engine
        self.engine_dag_id = dag_id
        self.month = run_value("month")
        self.file_uri = run_value("staged_uri")

    # -- the official operator, built when the task runs ---------------------------------------
    def official(self):
        from common import engine_operators

        return engine_operators.operator_for(self)

    def execute(self, context: Any) -> Any:
        from common import engine_operators

        return engine_operators.run(self, context)

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        from common import engine_operators

        return engine_operators.complete(self, context, event)

    def resume_execution(self, next_method: str, next_kwargs: dict | None, context: Any):
        from common import engine_operators

        return engine_operators.resume(self, next_method, next_kwargs, context)

    def on_kill(self) -> None:
        from common import engine_operators

        engine_operators.kill(self)
