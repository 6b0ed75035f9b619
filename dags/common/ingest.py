"""The ingest DAGs: one per enabled dataset with ``ingest_from`` (``dags/datasets.yaml``).

Monthly (``ingest.schedule``, a cron on the 1st), with catchup from ``ingest_from``, paused at
creation. ``INGEST_MONTHS`` (``YYYY-MM..YYYY-MM``) bounds the schedule to those months instead
(start and end date: what ``npm start`` uses, and a way to fetch a past window). Each run
covers one month, its data interval (``CronDataIntervalTimetable``: the run of the interval
March 1 → April 1 fetches March), with two tasks:

* ``plan``: the month, the publisher's URL (``source_url`` template; ``INGEST_SOURCE_URL``
  overrides the base), the smallest size accepted (``INGEST_MIN_BYTES`` overrides
  ``ingest.min_bytes``), the landing URI (``S3_LANDING_BUCKET`` + the key layout the S3 trigger
  expects), and how long to wait for a month that is not published yet: until
  ``publication_lag_days`` after the month ends, or the plan's time if later, plus
  ``patience_days``;
* ``download``: the download job (``taxi_spark.jobs.download``) through the runtime's runner. Its
  exit code 3 (403/404: not published yet) defers the task to a ``DateTimeTrigger`` (the
  triggerer waits; no worker slot is held) and asks again every ``poke_minutes``
  (``INGEST_POKE_SECONDS`` overrides) until that deadline, then fails the run naming the month
  and the URL. Exit codes 1 and 2 (wrong content, bad input) fail without retries; 4 (publisher
  still failing) is retried by Airflow with backoff.

The upload itself is idempotent (sha256), so a re-run, or an ask after a wait, of a month that is
already in the landing bucket changes nothing and starts no batch run. An ask after a wait is
the same try (same try number), as with a sensor.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, task

from common import defaults, pipeline_env
from common.datasets import Dataset
from common.jobs import PLAN_TASK, ingest_jobs
from common.runners import JobFailedError, KubernetesTask, LocalJobOperator

EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_NOT_YET = 1, 2, 3


def month_of(interval_start: datetime) -> str:
    return f"{interval_start.year:04d}-{interval_start.month:02d}"


def expected_publication(month: str, lag_days: int) -> datetime:
    """When the publisher is expected to have published ``month``: ``lag_days`` after it ends."""
    year, mon = map(int, month.split("-"))
    last = calendar.monthrange(year, mon)[1]
    end = datetime(year, mon, last, tzinfo=timezone.utc) + timedelta(days=1)
    return end + timedelta(days=lag_days)


def poke_seconds(dataset: Dataset, env: pipeline_env.PipelineEnv) -> int:
    raw = env.get("INGEST_POKE_SECONDS")
    if raw is None:
        return dataset.ingest.poke_minutes * 60
    if not raw.isdigit() or int(raw) < 1:
        raise pipeline_env.PipelineEnvError(
            f"pipeline-env key INGEST_POKE_SECONDS={raw!r} must be a whole number of seconds "
            ">= 1 (or unset: ingest.poke_minutes of datasets.yaml applies)."
        )
    return int(raw)


def min_bytes(dataset: Dataset, env: pipeline_env.PipelineEnv) -> int:
    raw = env.get("INGEST_MIN_BYTES")
    if raw is None:
        return dataset.ingest.min_bytes
    if not raw.isdigit() or not 1 <= int(raw) <= dataset.ingest.max_bytes:
        raise pipeline_env.PipelineEnvError(
            f"pipeline-env key INGEST_MIN_BYTES={raw!r} must be a whole number of bytes from 1 "
            f"to ingest.max_bytes ({dataset.ingest.max_bytes}), or unset (ingest.min_bytes of "
            "datasets.yaml applies)."
        )
    return int(raw)


def _month(raw: str) -> date | None:
    parts = raw.strip().split("-")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or len(parts[0]) != 4:
        return None
    year, mon = int(parts[0]), int(parts[1])
    return date(year, mon, 1) if 1 <= mon <= 12 else None


def months_window(dataset: Dataset, env: pipeline_env.PipelineEnv) -> tuple[date, date | None]:
    """First and last month the ingest DAG schedules: ``INGEST_MONTHS`` (``YYYY-MM..YYYY-MM``
    or one ``YYYY-MM``) when set, else ``ingest_from`` and no end."""
    assert dataset.ingest_start is not None
    raw = env.get("INGEST_MONTHS")
    if raw is None:
        return dataset.ingest_start, None
    first_raw, sep, last_raw = raw.partition("..")
    first = _month(first_raw)
    last = _month(last_raw) if sep else first
    if first is None or last is None or last < first:
        raise pipeline_env.PipelineEnvError(
            f"pipeline-env key INGEST_MONTHS={raw!r} must be YYYY-MM..YYYY-MM (first..last, "
            "first not after last) or one YYYY-MM, or unset (every month from ingest_from of "
            "datasets.yaml on)."
        )
    return first, last


def plan(
    dataset: Dataset,
    interval_start: datetime,
    run_started: datetime,
    env: pipeline_env.PipelineEnv,
) -> dict[str, Any]:
    """The run's values (JSON-able): what the download task downloads, where to, until when."""
    month = month_of(interval_start)
    landing = env.require("S3_LANDING_BUCKET", "as the ingest destination", "my-landing-bucket")
    landing_uri = landing if "://" in landing else f"s3://{landing}"
    expected = expected_publication(month, dataset.ingest.publication_lag_days)
    wait_until = max(expected, run_started) + timedelta(days=dataset.ingest.patience_days)
    return {
        "dataset": dataset.name,
        "month": month,
        "source_url": dataset.source(month, env.get("INGEST_SOURCE_URL")),
        "landing_uri": f"{landing_uri.rstrip('/')}/{dataset.landing_key(month)}",
        "expected_publication": expected.isoformat(),
        "wait_until": wait_until.isoformat(),
        "poke_seconds": poke_seconds(dataset, env),
        "min_bytes": min_bytes(dataset, env),
    }


class _WaitWhenNotYet:
    """Mixin over a runner: exit code 3 → wait (deferred) until the next ask, until the plan's
    ``wait_until``.

    The wait is a deferral to a ``DateTimeTrigger`` (the triggerer holds it; no worker slot),
    not a reschedule: when a rescheduled try fell due before the scheduler had handled the
    executor's event of the previous try, the scheduler found the task ``scheduled`` again and
    took that stale event for a task killed externally (``up_for_retry``). Airflow recognises
    the same stale event after a deferral (the task instance carries its ``next_method``), so
    the interval between two asks needs no margin for the scheduler's round trip.

    The deferral has no timeout of its own: a triggerer that was down fires it when it is back.
    Airflow 3.3 does not cap a deferral by the task's ``execution_timeout`` (the download job's
    is 1 h, the cluster's asks are ``poke_minutes`` = 6 h apart; the Execution API's deferral
    route leaves it as a TODO). Airflow 2 did cap it; an upgrade that brings the cap back must
    come with a deferral ``timeout`` here (dags/README.md, "Ingest")."""

    def execute(self, context: Any) -> Any:
        from airflow.sdk.exceptions import AirflowFailException

        try:
            return super().execute(context)  # type: ignore[misc]
        except JobFailedError as exc:
            values = context["ti"].xcom_pull(task_ids=PLAN_TASK)
            if exc.exit_code in (EXIT_CHECK_FAILED, EXIT_USAGE):
                raise AirflowFailException(
                    f"{values['source_url']}: {exc} (a retry would download the same file)."
                ) from exc
            if exc.exit_code != EXIT_NOT_YET:
                raise
            now = datetime.now(timezone.utc)
            wait_until = datetime.fromisoformat(values["wait_until"])
            if now >= wait_until:
                raise AirflowFailException(
                    f"{values['dataset']} {values['month']} is still not published at "
                    f"{values['source_url']} (403/404) on {now:%Y-%m-%d %H:%M} UTC; expected "
                    f"from {values['expected_publication'][:10]}, waited until "
                    f"{wait_until:%Y-%m-%d %H:%M}. Check the URL (source_url in "
                    "dags/datasets.yaml), or raise ingest.patience_days and clear the task."
                ) from exc
            when = min(now + timedelta(seconds=int(values["poke_seconds"])), wait_until)
            self.log.info(  # type: ignore[attr-defined]
                "%s %s not published yet; asking again at %s (waiting until %s)",
                values["dataset"],
                values["month"],
                when.isoformat(),
                wait_until.isoformat(),
            )
            from airflow.providers.standard.triggers.temporal import DateTimeTrigger

            self.defer(  # type: ignore[attr-defined]
                trigger=DateTimeTrigger(moment=when), method_name=ASK_AGAIN
            )

    def ask_again(self, context: Any, event: Any = None) -> Any:
        """Where the task resumes once the wait is over: the download, asked again."""
        return self.execute(context)


ASK_AGAIN = _WaitWhenNotYet.ask_again.__name__


class LocalIngestDownload(_WaitWhenNotYet, LocalJobOperator):
    """The download job as a local process; not yet → wait, deferred."""


class KubernetesIngestDownload(_WaitWhenNotYet, KubernetesTask):
    """The download Job on the cluster; not yet → wait, deferred."""


def _plan_task(dag_id: str, dataset: Dataset):
    @task(task_id=PLAN_TASK, retries=0, doc_md="The month, its URL, landing URI and deadline.")
    def plan_month(data_interval_start=None, dag_run=None) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from common.log import event, get_logger

        # The patience runs from the plan, the run's first task (dag.test() and backfills give
        # the run a start date in the past); clearing plan restarts the wait.
        started = datetime.now(timezone.utc)
        try:
            values = plan(dataset, data_interval_start, started, pipeline_env.read())
        except pipeline_env.PipelineEnvError as exc:
            raise AirflowFailException(f"{dag_id}: {exc}") from exc
        event(get_logger(dag_id), "ingest_planned", run_id=dag_run.run_id, **values)
        return values

    return plan_month()


def ingest_dag(dataset: Dataset, *, doc_md: str, runtime: str | None = None, **kw: Any) -> DAG:
    """``plan`` → ``download`` for one month per run, monthly, with catchup."""
    if dataset.ingest_start is None:
        raise ValueError(f"dataset {dataset.name} has no ingest_from: no ingest DAG")
    runtime = runtime or pipeline_env.runtime()
    start, last = months_window(dataset, pipeline_env.read())
    schedule = "0 0 1 * *" if dataset.ingest.schedule == "@monthly" else dataset.ingest.schedule
    minute, hour = (int(x) for x in schedule.split()[:2])
    # The run of month M has the data interval M-01 → (M+1)-01; the last one scheduled is the
    # one whose interval starts at the window's last month.
    end: dict[str, datetime] = (
        {}
        if last is None
        else {"end_date": datetime(last.year, last.month, 1, hour, minute, tzinfo=timezone.utc)}
    )
    cls = LocalIngestDownload if runtime == "local" else KubernetesIngestDownload
    with DAG(
        dag_id=dataset.ingest_dag_id,
        schedule=CronDataIntervalTimetable(schedule, timezone="UTC"),
        start_date=datetime(start.year, start.month, 1, hour, minute, tzinfo=timezone.utc),
        catchup=True,
        max_active_runs=dataset.ingest.max_active_runs,
        is_paused_upon_creation=True,
        **end,
        default_args=defaults.DEFAULT_ARGS,
        tags=[*defaults.TAGS, "ingest", f"dataset:{dataset.name}", f"runtime:{runtime}"],
        doc_md=f"{doc_md}\n\n**Dataset** `{dataset.name}`: {dataset.description}",
        **kw,
    ) as dag:
        planned = _plan_task(dataset.ingest_dag_id, dataset)
        for job in ingest_jobs(dataset):
            op = cls(task_id=job.task_id, job=job, dag_id=dataset.ingest_dag_id)
            planned >> op
            planned = op
    return dag
