"""The run report of a ``batch`` run: what it read, loaded, checked, built and decided.

:func:`collect` gathers the figures of one run from what its tasks left behind, through the
callback context's task instance (XCom and task states go through Airflow's execution API, so
this works in the dag-processor, where DAG callbacks run, and in ``dag.test()``):

* ``check_conf``'s XCom: month, file name, source URI;
* each job's JSON summary (its ``return_value`` XCom): rows read / loaded / quarantined by reason
  (``load``), expectations met vs threshold (``validate``), dbt models and tests
  (``dbt_build``), the model decision and metrics (``retrain``), the published docs;
* each job's ``report_task`` XCom (:func:`common.runners.record_task`): its duration, try, and
  for a failed try the error with the end of its log;
* the task states of the run (which task failed, which never ran).

:func:`render_text` and :func:`render_html` turn a :class:`RunReport` into the email's text part
and the HTML page (Jinja2 with autoescape: file names, errors and log lines are data, never
markup). Links come from the environment's public URLs (:class:`Links`).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jinja2

from common.jobs import CHECK_TASK

#: XCom key under which every job task records its duration and, on failure, its error.
TASK_KEY = "report_task"
#: The month of a run whose conf never gave one (``check_conf`` failed).
UNKNOWN_MONTH = "unknown-month"
#: Characters of a failed task's log kept in the report (its end).
LOG_TAIL_CHARS = 4000
_BATCH_TASKS = (
    CHECK_TASK,
    "copy_to_staging",
    "validate",
    "load",
    "dbt_build",
    "retrain",
    "publish_docs",
)


@dataclass(frozen=True)
class Links:
    """Public URLs of one run (None when the environment has no public URL for it)."""

    airflow_run: str | None = None
    report: str | None = None
    data_docs: str | None = None
    dbt_docs: str | None = None
    model_report: str | None = None

    def items(self) -> list[tuple[str, str]]:
        named = [
            ("Airflow run", self.airflow_run),
            ("This report", self.report),
            ("Data docs (Great Expectations)", self.data_docs),
            ("dbt docs", self.dbt_docs),
            ("Model report", self.model_report),
        ]
        return [(k, v) for k, v in named if v]


def links(
    *,
    airflow_url: str | None,
    docs_url: str | None,
    dag_id: str,
    run_id: str,
    dataset: str,
    month: str,
) -> Links:
    """The run's links: Airflow 3 UI run page, docs-app pages of the sites the run published."""
    quote = urllib.parse.quote
    airflow = airflow_url.rstrip("/") if airflow_url else None
    docs = docs_url.rstrip("/") if docs_url else None
    return Links(
        airflow_run=(
            f"{airflow}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
            if airflow
            else None
        ),
        report=f"{docs}/reports/{quote(dataset)}/{quote(month)}/" if docs else None,
        data_docs=f"{docs}/data-docs/" if docs else None,
        dbt_docs=f"{docs}/dbt/" if docs else None,
        model_report=f"{docs}/model/" if docs else None,
    )


@dataclass(frozen=True)
class TaskLine:
    task_id: str
    state: str | None
    seconds: float | None = None
    try_number: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class RunReport:
    dataset: str
    dag_id: str
    run_id: str
    succeeded: bool
    month: str
    file_name: str | None
    source_uri: str | None
    started_at: datetime | None
    ended_at: datetime
    tasks: tuple[TaskLine, ...]
    load: Mapping[str, Any] = field(default_factory=dict)
    validate: Mapping[str, Any] = field(default_factory=dict)
    dbt: Mapping[str, Any] = field(default_factory=dict)
    model: Mapping[str, Any] = field(default_factory=dict)
    docs: Mapping[str, Any] = field(default_factory=dict)
    links: Links = field(default_factory=Links)
    reason: str | None = None

    @property
    def failed_task(self) -> TaskLine | None:
        for t in self.tasks:
            if t.state == "failed":
                return t
        return None

    @property
    def status(self) -> str:
        return "succeeded" if self.succeeded else "FAILED"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return max(0.0, (self.ended_at - self.started_at).total_seconds())

    @property
    def subject(self) -> str:
        head = f"[taxi-platform] {self.dataset} {self.month}: batch run {self.status}"
        failed = self.failed_task
        return f"{head} in {failed.task_id}" if failed else head

    def figures(self) -> dict[str, Any]:
        """The report's figures as plain values (what the email and the page show)."""
        return {
            "dataset": self.dataset,
            "month": self.month,
            "status": self.status,
            "rows_read": self.load.get("rows_read"),
            "rows_loaded": self.load.get("rows_loaded"),
            "rows_quarantined": self.load.get("rows_quarantined"),
            "quarantine_by_reason": dict(self.load.get("quarantine_by_reason") or {}),
            "expectations_percent": self.validate.get("success_percent"),
            "expectations_threshold": self.validate.get("threshold_pct"),
            "model_decision": self.model.get("decision"),
        }


def _obj(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _aware(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str) and value:
        try:
            return _aware(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def tail(text: str, limit: int = LOG_TAIL_CHARS) -> str:
    """The end of ``text``, cut at a line start when it is longer than ``limit``."""
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    nl = cut.find("\n")
    return ("…\n" + cut[nl + 1 :]) if 0 <= nl < len(cut) - 1 else "…" + cut


class _SdkSource:
    """Through the Task SDK's supervisor channel: the dag-processor, where Airflow runs DAG
    callbacks (XCom and task states over the execution API)."""

    def __init__(self, ti: Any, dag_id: str, run_id: str) -> None:
        self.ti, self.dag_id, self.run_id = ti, dag_id, run_id

    def xcom(self, task_id: str, key: str) -> Any:
        return self.ti.xcom_pull(task_ids=task_id, key=key)

    def states(self) -> dict[str, str | None]:
        found = self.ti.get_task_states(dag_id=self.dag_id, run_ids=[self.run_id])
        return dict(found.get(self.run_id, {}))


class _DbSource:
    """From the metadata DB: ``dag.test()`` runs the callbacks in its own process, which has
    the DB and no supervisor channel."""

    def __init__(self, dag_id: str, run_id: str) -> None:
        self.dag_id, self.run_id = dag_id, run_id

    def xcom(self, task_id: str, key: str) -> Any:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            row = (
                session.query(XComModel)
                .filter_by(dag_id=self.dag_id, run_id=self.run_id, task_id=task_id, key=key)
                .one_or_none()
            )
            return None if row is None else XComModel.deserialize_value(row)

    def states(self) -> dict[str, str | None]:
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session

        with create_session() as session:
            rows = session.query(TaskInstance.task_id, TaskInstance.state).filter_by(
                dag_id=self.dag_id, run_id=self.run_id
            )
            return {task_id: (str(state) if state else None) for task_id, state in rows}


def _source(ti: Any, dag_id: str, run_id: str) -> _SdkSource | _DbSource:
    from airflow.sdk.execution_time import task_runner

    if ti is not None and getattr(task_runner, "SUPERVISOR_COMMS", None) is not None:
        return _SdkSource(ti, dag_id, run_id)
    return _DbSource(dag_id, run_id)


def collect(
    context: Mapping[str, Any],
    *,
    dataset: str,
    succeeded: bool,
    airflow_url: str | None = None,
    docs_url: str | None = None,
    now: datetime | None = None,
) -> RunReport:
    """The report of the run in a DAG callback's ``context``."""
    dag = context.get("dag")
    dag_id = getattr(dag, "dag_id", None) or str(context.get("dag_id", "?"))
    run_id = str(context.get("run_id", "?"))
    ti = context.get("ti")
    task_ids = list(getattr(dag, "task_ids", None) or _BATCH_TASKS)

    source = _source(ti, dag_id, run_id)

    def pull(task_id: str, key: str = "return_value") -> Any:
        try:
            return source.xcom(task_id, key)
        except Exception:  # noqa: BLE001 - a missing XCom must not cost the report
            return None

    try:
        states = source.states()
    except Exception:  # noqa: BLE001 - the report still goes out, states unknown
        states = {}
    values = _obj(pull(CHECK_TASK))
    month = str(values.get("month") or UNKNOWN_MONTH)
    tasks = []
    for task_id in task_ids:
        rec = _obj(pull(task_id, TASK_KEY))
        state = states.get(task_id)
        error = rec.get("error")
        tasks.append(
            TaskLine(
                task_id=task_id,
                state=state,
                seconds=rec.get("seconds"),
                try_number=rec.get("try_number"),
                error=tail(str(error)) if error and state == "failed" else None,
            )
        )
    dag_run = context.get("dag_run")
    started = _aware(getattr(dag_run, "start_date", None))
    return RunReport(
        dataset=dataset,
        dag_id=dag_id,
        run_id=run_id,
        succeeded=succeeded,
        month=month,
        file_name=values.get("file_name"),
        source_uri=values.get("source_uri"),
        started_at=started,
        ended_at=now or datetime.now(timezone.utc),
        tasks=tuple(tasks),
        load=_obj(pull("load")),
        validate=_obj(pull("validate")),
        dbt=_obj(pull("dbt_build")),
        model=_obj(pull("retrain")),
        docs=_obj(pull("publish_docs")),
        links=links(
            airflow_url=airflow_url,
            docs_url=docs_url,
            dag_id=dag_id,
            run_id=run_id,
            dataset=dataset,
            month=month,
        ),
        reason=str(context.get("reason")) if context.get("reason") else None,
    )


# --- rendering ------------------------------------------------------------------------------
def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "n/a"


def _seconds(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "n/a"
    value = float(value)
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    return f"{minutes} min {secs:02d} s"


def _num(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "n/a"
    return f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    return f"{_num(value, 2)} %" if isinstance(value, (int, float)) else "n/a"


def _counts(value: Any) -> str:
    """``{"success": 12, "error": 0}`` → ``12 success, 0 error``."""
    if not isinstance(value, Mapping) or not value:
        return "n/a"
    return ", ".join(f"{_count(v)} {k}" for k, v in sorted(value.items()))


def _model_lines(model: Mapping[str, Any]) -> list[str]:
    if not model:
        return ["no retrain summary (the task did not finish)"]
    metrics = _obj(model.get("metrics"))
    decision = model.get("decision") or "n/a"
    lines = [f"decision: {decision}"]
    if model.get("decision_reason"):
        lines.append(f"reason: {model['decision_reason']}")
    if model.get("model_version"):
        lines.append(f"challenger version: v{model['model_version']}")
    champion = model.get("champion_version")
    if champion:
        lines.append(f"champion now: v{champion}")
    if model.get("previous_champion_version"):
        lines.append(f"previous champion: v{model['previous_champion_version']}")
    challenger_rmse = model.get("challenger_rmse", metrics.get("holdout_rmse"))
    lines.append(
        f"RMSE challenger {_num(challenger_rmse)} · champion {_num(model.get('champion_rmse'))}"
        f" · baseline {_num(metrics.get('baseline_rmse'))}"
    )
    return lines


_FILTERS = {
    "count": _count,
    "seconds": _seconds,
    "num": _num,
    "pct": _pct,
    "counts": _counts,
}


_TEMPLATES = Path(__file__).resolve().parent / "report_templates"


def _env(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    env.filters.update(_FILTERS)
    return env


def render_text(report: RunReport) -> str:
    """The email's text part (``report_templates/email.txt.j2``, no escaping: plain text)."""
    template = _env(False).get_template("email.txt.j2")
    return template.render(r=report, model_lines=_model_lines(report.model))


def render_html(report: RunReport) -> str:
    """The HTML page and part (``report_templates/report.html.j2``, autoescaped)."""
    template = _env(True).get_template("report.html.j2")
    return template.render(r=report, model_lines=_model_lines(report.model))


def render_index(title: str, entries: list[str]) -> str:
    """An index page listing ``entries`` (sub-folders), newest name first."""
    template = _env(True).get_template("index.html.j2")
    return template.render(title=title, entries=sorted(entries, reverse=True))
