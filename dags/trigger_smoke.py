"""
### trigger_smoke

What the S3 trigger function's integration test triggers: it proves that a run started through
the Airflow REST API (`POST /api/v2/dags/trigger_smoke/dagRuns`) arrives with its conf.

* **conf**: `{"uri": "<non-empty string>"}` (required).
* **task** `check_conf`: fails with a message saying what was expected when `uri` is missing,
  empty or not a string; otherwise logs it and returns it (XCom). No cluster, no job: a plain
  Python task, so it behaves the same under both runtimes.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from common import defaults


@dag(
    dag_id="trigger_smoke",
    schedule=None,
    start_date=defaults.START_DATE,
    catchup=False,
    max_active_runs=16,
    default_args=defaults.DEFAULT_ARGS,
    tags=[*defaults.TAGS, "smoke"],
    doc_md=__doc__,
)
def trigger_smoke():
    @task(retries=0)
    def check_conf(dag_run=None) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from common import conf
        from common.log import event, get_logger

        try:
            values = conf.trigger_smoke(dag_run.conf)
        except conf.ConfError as exc:
            raise AirflowFailException(str(exc)) from exc
        event(
            get_logger("trigger_smoke"), "conf_received", uri=values["uri"], run_id=dag_run.run_id
        )
        return values

    check_conf()


trigger_smoke()
