"""Record the Kubernetes API calls the DAGs' official operators make, run for real.

    cd dags && .venv/bin/python -m tests.k8s_recorder --out /tmp/k8s-calls.jsonl

Starts the loopback API stand-in (:mod:`tests.k8s_stand_in`), points a kubeconfig at it, and
runs ``dag.test()`` of the ``batch`` and ``full_refresh`` DAGs under the ``kubernetes`` runtime on
a throw-away Airflow (SQLite metadata DB in a temporary ``AIRFLOW_HOME``): every task goes
through the cncf-kubernetes provider's own code (Job operator, SparkApplication operator, the
pod manager underneath), and the stand-in answers as a cluster would until each job succeeds.

Writes one JSON object per request, in order::

    {"serviceAccount": "airflow/airflow", "verb": "create", "group": "batch", "version": "v1",
     "resource": "jobs", "subresource": null, "namespace": "jobs", "name": null}

``serviceAccount`` is the identity the Airflow worker launches with (the Airflow core
Kubernetes service account, ``--service-account``). The calls include the read of the end of
each succeeded pod's log that gives the job's JSON summary (``get pods/log`` with
``tailLines``), and every Job / SparkApplication task must have returned that summary as its
XCom. Exit code 1 when a DAG run does not succeed, a task's XCom is not the summary, or the
stand-in received a call it does not serve (all printed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

DAGS_DIR = Path(__file__).resolve().parent.parent
# The Kubernetes service account of the Airflow processes (components/identities: the "airflow"
# workload's KSA in the "airflow" namespace; the launcher RoleBinding names it).
AIRFLOW_SERVICE_ACCOUNT = "airflow/airflow"
JOBS_NAMESPACE = "jobs"
LANDING = "s3://acme-taxi-landing-dev"
RUNS = (
    ("batch", {"uri": f"{LANDING}/trip data/yellow_tripdata_2024-01.parquet"}),
    ("full_refresh", {"from": "2024-01", "to": "2024-02"}),
)


def pipeline_env() -> dict[str, str]:
    """A cloud-shaped pipeline-env (the runs only render and submit; nothing reads the data)."""
    from common.templates import SAMPLE_ENV

    return {
        **SAMPLE_ENV,
        "JOBS_NAMESPACE": JOBS_NAMESPACE,
        "PLATFORM_ENV": "dev",
        "PLATFORM_RUNTIME": "kubernetes",
        "GCP_PROJECT": "acme-taxi-dev",
        "GCP_REGION": "europe-west1",
        "BQ_LOCATION": "EU",
        "STAGING_URI": "gs://acme-taxi-dev-staging",
        "DOCS_URI": "gs://acme-taxi-dev-docs",
        "SPARK_TEMP_BUCKET": "acme-taxi-dev-spark-temp",
        "WAREHOUSE": "bigquery",
        "BQ_DATASET_RAW": "taxi_dev_raw",
        "BQ_DATASET_MARTS": "taxi_dev_marts",
        "MLFLOW_TRACKING_URI": "http://mlflow.mlflow:5000",
        "S3_LANDING_BUCKET": LANDING,
        "TRANSFER_JOB_PREFIX": "transferJobs/dev-s3-full-refresh",
    }


def _prepare_process(kubeconfig: Path, home: Path) -> None:
    """Environment of this process, set before Airflow or the Kubernetes client is imported."""
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "KUBECONFIG": str(kubeconfig),
            **pipeline_env(),
        }
    )
    os.environ.pop("KUBERNETES_SERVICE_HOST", None)
    if str(DAGS_DIR) not in sys.path:
        sys.path.insert(0, str(DAGS_DIR))


def summary_problems(dag: Any, run: Any, api: Any) -> list[str]:
    """Each Job / SparkApplication task returned the summary at the end of its pod's log,
    read as a tail of its main container's log."""
    from common.runners import KubernetesTask
    from tests import xcoms
    from tests.k8s_stand_in import POD_LOG_SUMMARY

    problems = []
    for task in dag.tasks:
        if not isinstance(task, KubernetesTask):
            continue
        value = xcoms.return_value(run, task.task_id)
        if value != POD_LOG_SUMMARY:
            problems.append(f"{dag.dag_id}.{task.task_id} returned {value!r}, not the summary")
    if not any(r["tailLines"] and not r["follow"] for r in api.log_reads):
        problems.append(f"{dag.dag_id}: no pod log tail was read for a summary")
    return problems


def record(service_account: str = AIRFLOW_SERVICE_ACCOUNT) -> tuple[list[dict], list[str]]:
    """Run the DAGs against a fresh stand-in; (records, problems)."""
    from tests.k8s_stand_in import StandIn

    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="taxi-k8s-recorder-") as tmp, StandIn() as api:
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text(api.kubeconfig(JOBS_NAMESPACE))
        _prepare_process(kubeconfig, Path(tmp) / "airflow")
        from airflow.dag_processing.dagbag import DagBag
        from airflow.utils import db

        db.resetdb()
        bag = DagBag(dag_folder=str(DAGS_DIR))
        if bag.import_errors:
            problems += [f"import error {k}: {v}" for k, v in bag.import_errors.items()]
        for dag_id, conf in RUNS:
            dag = bag.get_dag(dag_id)
            if dag is None:
                problems.append(f"no DAG {dag_id}")
                continue
            run = dag.test(run_conf=conf)
            states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
            if str(run.state) != "success":
                problems.append(f"{dag_id} ended {run.state}: {states}")
            problems += summary_problems(dag, run, api)
        problems += [f"unsupported call {u}" for u in api.unsupported]
        records = [{"serviceAccount": service_account, **r.as_dict()} for r in api.requests]
    return records, problems


def write_jsonl(records: list[dict[str, Any]], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.k8s_recorder", description=__doc__)
    p.add_argument("--out", required=True, type=Path, help="JSON-lines file to write")
    p.add_argument(
        "--service-account",
        default=AIRFLOW_SERVICE_ACCOUNT,
        help=f"<namespace>/<name> the calls are made as (default {AIRFLOW_SERVICE_ACCOUNT})",
    )
    args = p.parse_args(argv)
    records, problems = record(args.service_account)
    write_jsonl(records, args.out)
    distinct = {json.dumps({k: v for k, v in r.items() if k != "name"}) for r in records}
    print(f"{len(records)} requests ({len(distinct)} distinct without names) -> {args.out}")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
