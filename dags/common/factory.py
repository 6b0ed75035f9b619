"""Build the batch and full-refresh DAGs of one dataset from the job table.

The DAG files only call these functions (once per enabled dataset of ``datasets.yaml``); all the
logic lives here and in the modules it uses. The first task, ``check_conf``, validates the run
conf and returns the run's values; every job reads them from its XCom through its templated
arguments. The runtime (``PLATFORM_RUNTIME``) only picks the runner of each job.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from airflow.sdk import DAG, task

from common import defaults, pipeline_env
from common.datasets import Dataset
from common.engine_tasks import RemoteStep, batch_steps
from common.jobs import CHECK_TASK, Job, batch_jobs, full_refresh_jobs
from common.runners import job_operator


def _check_conf_task(dag_id: str, check: Callable[..., dict[str, Any]], dataset: Dataset):
    @task(task_id=CHECK_TASK, retries=0, doc_md="Validate the run conf; return the run's values.")
    def check_conf(dag_run=None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from common import conf
        from common.log import event, get_logger

        try:
            values = check(dag_run.conf, dataset, pipeline_env.read())
        except (conf.ConfError, pipeline_env.PipelineEnvError) as exc:
            # A bad conf will not get better on retry: fail the task for good.
            raise AirflowFailException(f"{dag_id}: {exc}") from exc
        event(get_logger(dag_id), "run_values", run_id=dag_run.run_id, **values)
        return values

    return check_conf()


def build_dag(
    *,
    dag_id: str,
    dataset: Dataset,
    jobs: Sequence[Job | RemoteStep],
    check: Callable[..., dict[str, Any]],
    doc_md: str,
    tags: Sequence[str],
    runtime: str | None = None,
    **dag_kwargs: Any,
) -> DAG:
    """``check_conf`` then ``jobs`` in order, each through the runtime's runner (a
    :class:`~common.engine_tasks.RemoteStep` through its external engine); a job with
    ``beside_previous`` follows the same task as the job before it, so the two run side by
    side."""
    runtime = runtime or pipeline_env.runtime()
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=defaults.START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=defaults.DEFAULT_ARGS,
        tags=[*defaults.TAGS, *tags, f"dataset:{dataset.name}", f"runtime:{runtime}"],
        doc_md=f"{doc_md}\n\n**Dataset** `{dataset.name}`: {dataset.description}",
        **dag_kwargs,
    ) as dag:
        previous = _check_conf_task(dag_id, check, dataset)
        upstream = None
        for job in jobs:
            if isinstance(job, RemoteStep):
                op = job.operator(dag_id)
            else:
                op = job_operator(job, runtime=runtime, dag_id=dag_id)
            if job.beside_previous:
                if upstream is None:
                    raise ValueError(
                        f"{dag_id}: {op.task_id} runs beside the job before it, but it is the "
                        "first job; set beside_previous only on a later one"
                    )
                upstream >> op
            else:
                previous >> op
                upstream = previous
            previous = op
    return dag


def batch_dag(
    dataset: Dataset, *, doc_md: str, jobs: Sequence[Job] | None = None, **kw: Any
) -> DAG:
    """The ``batch`` DAG of ``dataset``; its end (success or failure) sends the run report
    (:class:`common.notify.RunReportNotifier` as the DAG's success and failure callbacks)."""
    from common import conf, notify

    for key, notifier in notify.notifiers(dataset.name).items():
        kw.setdefault(key, notifier)
    return build_dag(
        dag_id=dataset.batch_dag_id,
        dataset=dataset,
        jobs=batch_steps(dataset, batch_jobs(dataset) if jobs is None else jobs),
        check=conf.batch,
        doc_md=doc_md,
        tags=["batch"],
        **kw,
    )


def full_refresh_dag(
    dataset: Dataset, *, doc_md: str, jobs: Sequence[Job] | None = None, **kw: Any
) -> DAG:
    from common import conf

    return build_dag(
        dag_id=dataset.full_refresh_dag_id,
        dataset=dataset,
        jobs=full_refresh_jobs(dataset) if jobs is None else jobs,
        check=conf.full_refresh,
        doc_md=doc_md,
        tags=["full-refresh"],
        **kw,
    )
