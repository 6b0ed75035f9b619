"""The job table: every task of the batch and full-refresh DAGs, described once.

A :class:`Job` says what runs (component, module or command, arguments, extra env), with what
(resources, Spark sizing, node pool) and for how long. The runners in :mod:`common.runners`
turn one description into a Kubernetes Job, a SparkApplication or a local process; the DAG's
tasks and dependencies do not depend on the runtime.

Arguments may hold Airflow templates (``{{ run_id }}``, :func:`run_value`): the operator renders
them per run, so the DAG file itself stays free of run-time values.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from common.datasets import Dataset

CHECK_TASK = "check_conf"
JOB_KINDS = ("job", "spark")
_NAME_RE = re.compile(r"[^a-z0-9-]+")


def k8s_name(*parts: str, max_len: int = 50) -> str:
    """A DNS-1123 label from ``parts`` (lower case, '-' separated, trimmed to ``max_len``)."""
    name = _NAME_RE.sub("-", "-".join(parts).lower().replace("_", "-")).strip("-")
    return name[:max_len].rstrip("-") or "job"


def object_name(dag_id: str, task_id: str, run_id: str | None) -> str:
    """The Job / SparkApplication name of one task of one run: deterministic, so a retry or a
    restarted Airflow finds the object of the same run and task instead of starting a second
    one. ``<dag>-<task>-<8 hex of the run id>``, at most 49 characters (the Job operator
    prefixes ``job-``; the Spark driver pod appends ``-driver``)."""
    if not run_id:
        return k8s_name(dag_id, task_id)
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    return f"{k8s_name(dag_id, task_id, max_len=40)}-{digest}"


def final_args(arguments: list[str], optional_arguments: list[list[str]]) -> list[str]:
    """Arguments plus every (flag, value) pair whose rendered value is not empty."""
    out = [str(a) for a in arguments]
    for flag, value in optional_arguments:
        if str(value).strip():
            out += [flag, str(value).strip()]
    return out


def run_value(key: str, task: str = CHECK_TASK) -> str:
    """Template for one value returned by the run's first task (``check_conf``; the ingest
    DAGs' ``plan``) ('' when None)."""
    return f"{{{{ ti.xcom_pull(task_ids='{task}')['{key}'] or '' }}}}"


RUN_ID = "{{ run_id }}"


@dataclass(frozen=True)
class Component:
    """Where a component's code lives: image (by pipeline-env key), service account, folder."""

    name: str
    image_key: str | None  # pipeline-env key of its image; None: fixed `image`
    service_account: str
    local_dir: str | None  # repo folder with .venv for the local runtime; None: no local run
    image: str | None = None
    working_dir: str | None = None  # in the image
    pythonpath: str | None = None  # in the image
    local_pythonpath: str = "src"  # relative to local_dir
    run_as_user: int | None = None  # numeric non-root uid when the image's USER is not one


COMPONENTS: Mapping[str, Component] = {
    "spark": Component(
        "spark",
        "IMAGE_SPARK",
        "spark",
        "spark",
        working_dir="/opt/taxi-spark",
        pythonpath="/opt/taxi-spark/src",
        run_as_user=185,  # the official Spark image's "spark" user
    ),
    "dbt": Component(
        "dbt",
        "IMAGE_DBT",
        "dbt",
        "dbt",
        working_dir="/opt/taxi-dbt",
        pythonpath="/opt/taxi-dbt/src",
    ),
    "ml": Component(
        "ml", "IMAGE_ML", "ml", "ml", working_dir="/opt/taxi-ml", pythonpath="/opt/taxi-ml/src"
    ),
    # The Google Cloud CLI runs the Storage Transfer Service job (no Python of ours in it): the
    # stack's mirror of the one pinned release (components/shared/versions.ts), by digest.
    "cloud-sdk": Component("cloud-sdk", "IMAGE_CLOUD_SDK", "transfer", None, run_as_user=1000),
    # The DAG helpers' own environment: no image, local runtime only (the dag.test() suite's
    # small jobs run in it).
    "dags": Component(
        "dags",
        None,
        "airflow",
        "dags",
        image="local/taxi-dags",  # never deployed
        working_dir="/opt/taxi-dags",
        pythonpath="/opt/taxi-dags",
    ),
}
# Where each component's folder sits in its image: the local runtime maps these paths of the
# rendered objects (workingDir, PYTHONPATH, the Spark main file) back to the repository.
IMAGE_ROOTS: Mapping[str, str] = {
    "/opt/taxi-spark": "spark",
    "/opt/taxi-dbt": "dbt",
    "/opt/taxi-ml": "ml",
    "/opt/taxi-dags": "dags",
}

# --- what each job reads and writes (the data access matrix) ----------------------------------
ACCESS_KINDS = {
    "gcs": ("read", "write"),  # a bucket of the data lake (target: its key), optional prefix
    "bigquery": ("read", "write"),  # a dataset (target: raw | marts)
    "bigquery-jobs": ("run",),  # run query/load jobs in the project
    "bigquery-read-session": ("run",),  # the BigQuery Storage Read API
    "s3": ("read", "write"),  # the AWS landing bucket (target: landing), through an AWS role
    "transfer-jobs": ("run",),  # run the Storage Transfer Service job
}


@dataclass(frozen=True)
class Access:
    """One thing a job touches in the cloud; the identities must grant exactly these."""

    kind: str
    mode: str
    target: str = ""
    prefix: str = ""

    def __post_init__(self) -> None:
        if self.mode not in ACCESS_KINDS.get(self.kind, ()):
            raise ValueError(f"access {self.kind}/{self.mode} is not one of {ACCESS_KINDS}")

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "mode": self.mode, "target": self.target, "prefix": self.prefix}


def gcs(bucket: str, mode: str, prefix: str = "") -> Access:
    return Access("gcs", mode, bucket, prefix)


def bq(dataset: str, mode: str) -> Access:
    return Access("bigquery", mode, dataset)


BQ_JOBS = Access("bigquery-jobs", "run")
BQ_READ_SESSION = Access("bigquery-read-session", "run")


def landing_read(dataset: Dataset) -> Access:
    """The dataset's monthly files in the S3 landing bucket, read through the AWS role."""
    return Access("s3", "read", "landing", f"{dataset.landing_prefix}{dataset.file_prefix}")


def landing_write(dataset: Dataset) -> Access:
    """The dataset's monthly files in the S3 landing bucket, written through the ingest role."""
    return Access("s3", "write", "landing", f"{dataset.landing_prefix}{dataset.file_prefix}")


TRANSFER_RUN = Access("transfer-jobs", "run")
PLAN_TASK = "plan"


@dataclass(frozen=True)
class SecretEnv:
    """An environment variable read from a key of a Kubernetes Secret."""

    name: str
    secret: str
    key: str


@dataclass(frozen=True)
class Resources:
    cpu_request: str = "250m"
    memory_request: str = "512Mi"
    cpu_limit: str | None = None
    memory_limit: str | None = "1Gi"


@dataclass(frozen=True)
class SparkSizing:
    driver_cores: int = 1
    driver_core_limit: str = "1200m"
    driver_memory: str = "2g"
    executor_instances: int = 2
    executor_cores: int = 1
    executor_core_limit: str = "1200m"
    executor_memory: str = "2g"
    # Non-heap memory of each pod (Python workers, Arrow buffers, JVM off-heap). Spark's own
    # default for non-JVM jobs on Kubernetes is 40 % of the heap (see dags/README.md "Sizing").
    memory_overhead: str = "1g"


@dataclass(frozen=True)
class Job:
    """One task, described once for both runtimes."""

    task_id: str
    component: str
    args: tuple[str, ...] = ()
    module: str | None = None  # python -m <module> <args>; None: `command` + args
    command: tuple[str, ...] = ()
    kind: str = "job"  # "job": Kubernetes Job; "spark": SparkApplication
    optional_args: tuple[tuple[str, str], ...] = ()  # (flag, value): dropped when value is ''
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: tuple[SecretEnv, ...] = ()
    resources: Resources = Resources()
    spark: SparkSizing | None = None
    timeout: timedelta = timedelta(hours=1)
    local: Job | None = None  # what the local runtime runs instead (no such service locally)
    doc: str = ""
    service_account: str | None = None  # None: the component's
    accesses: tuple[Access, ...] = ()  # what it reads and writes (checked against the IAM)
    # Runs beside the job before it: both follow the same task instead of one after the other.
    beside_previous: bool = False

    @property
    def account(self) -> str:
        """The Kubernetes service account the task's pods run as (in JOBS_NAMESPACE)."""
        return self.service_account or COMPONENTS[self.component].service_account

    def __post_init__(self) -> None:
        if self.component not in COMPONENTS:
            raise ValueError(
                f"job {self.task_id}: unknown component {self.component!r}; "
                f"expected one of {', '.join(COMPONENTS)}"
            )
        if self.kind not in JOB_KINDS:
            raise ValueError(f"job {self.task_id}: kind must be one of {JOB_KINDS}")
        if (self.module is None) == (not self.command):
            raise ValueError(f"job {self.task_id}: give exactly one of module or command")
        if self.kind == "spark" and (self.spark is None or self.component != "spark"):
            raise ValueError(f"job {self.task_id}: a spark job needs component spark and sizing")

    @property
    def main_application_file(self) -> str:
        """``local:///opt/taxi-spark/src/taxi_spark/jobs/<job>.py`` for SparkApplications."""
        comp = COMPONENTS[self.component]
        assert self.module
        assert comp.pythonpath
        return f"local://{comp.pythonpath}/{self.module.replace('.', '/')}.py"


def _spark_module(job: str) -> str:
    return f"taxi_spark.jobs.{job}"


# Resources of the plain Jobs, from the peak memory measured on a real-size month (3M rows) plus
# headroom: see dags/README.md "Sizing".
COPY_RESOURCES = Resources(cpu_request="250m", memory_request="256Mi", memory_limit="512Mi")
DBT_RESOURCES = Resources(cpu_request="500m", memory_request="1Gi", memory_limit="2Gi")
ML_RESOURCES = Resources(cpu_request="1", memory_request="2Gi", memory_limit="4Gi")
DOCS_RESOURCES = Resources(cpu_request="250m", memory_request="512Mi", memory_limit="1Gi")
SPARK_MONTH = SparkSizing(executor_instances=1)
SPARK_HISTORY = SparkSizing(executor_instances=4, executor_memory="4g", memory_overhead="2g")

# Accesses shared by the loads (spark-bigquery connector, indirect write through spark-temp).
_SPARK_LOAD = (bq("raw", "write"), BQ_JOBS, gcs("spark-temp", "write"))
# dbt on BigQuery: reads raw, builds the marts.
_DBT_BUILD = (bq("raw", "read"), bq("marts", "write"), BQ_JOBS)
# The fare model: reads fare_features from the marts (Storage Read API), logs runs and models
# to MLflow over HTTP (the server proxies artifacts: --serve-artifacts, so no bucket access) and
# publishes its report under <DOCS_URI>/model/.
_ML = (bq("marts", "read"), BQ_JOBS, BQ_READ_SESSION, gcs("docs", "write", "model/"))


def batch_jobs(dataset: Dataset) -> tuple[Job, ...]:
    """copy → validate → load → dbt build → retrain and publish docs side by side, for one
    monthly file (the docs describe the warehouse dbt built, not the model)."""
    staged = run_value("staged_uri")
    return (
        Job(
            "copy_to_staging",
            "spark",
            ("--uri", run_value("source_uri"), "--dest", staged, "--run-id", RUN_ID),
            module=_spark_module("copy_files"),
            service_account="transfer",
            resources=COPY_RESOURCES,
            accesses=(landing_read(dataset), gcs("staging", "write")),
            doc=f"Copy the {dataset.name} monthly file to <STAGING_URI>/{dataset.name}/.",
        ),
        Job(
            "validate",
            "spark",
            ("--uri", staged, "--run-id", RUN_ID),
            module=_spark_module("validate"),
            kind="spark",
            spark=SPARK_MONTH,
            accesses=(gcs("staging", "read"), gcs("docs", "write", "data-docs/")),
            doc="Great Expectations on Spark; below the threshold the run fails.",
        ),
        Job(
            "load",
            "spark",
            ("--uri", staged, "--run-id", RUN_ID),
            module=_spark_module("batch"),
            kind="spark",
            spark=SPARK_MONTH,
            timeout=timedelta(hours=2),
            accesses=(gcs("staging", "read"), *_SPARK_LOAD),
            doc="Canonical schema → trips; the file's date partitions are overwritten.",
        ),
        Job(
            "dbt_build",
            "dbt",
            # Rebuild and test exactly the dates of this month, also when an old month is
            # re-delivered; dbt's unit tests (fixed inputs) run in CI, not every month.
            (
                "build",
                "--no-unit-tests",
                "--vars",
                '{"source_month": "' + run_value("month") + '"}',
            ),
            module="taxi_dbt.runner",
            resources=DBT_RESOURCES,
            accesses=_DBT_BUILD,
            doc="staging → intermediate → marts, for the dates of this month.",
        ),
        Job(
            "retrain",
            "ml",
            ("--month", run_value("month"), "--run-id", RUN_ID),
            module="taxi_ml.retrain",
            resources=ML_RESOURCES,
            accesses=_ML,
            doc=(
                "Retrain the fare model on the new month; promoted only if better. A retry of "
                "the same run reuses the version it registered."
            ),
        ),
        Job(
            "publish_docs",
            "dbt",
            (),
            module="taxi_dbt.publish",
            # Beside retrain: the docs need the tables dbt_build built, not the model. Locally
            # both only read the DuckDB file (the publisher opens it read-only).
            beside_previous=True,
            resources=DOCS_RESOURCES,
            accesses=(
                bq("raw", "read"),
                bq("marts", "read"),
                BQ_JOBS,
                gcs("docs", "write", "dbt/"),
            ),
            doc="dbt docs (one HTML file) and reports → DOCS_URI (overwritten: idempotent).",
        ),
    )


def ingest_jobs(dataset: Dataset) -> tuple[Job, ...]:
    """download (publisher → verify → landing bucket), for one month (the run's data interval).

    The ``plan`` task (common.ingest) decides the month, the source URL and the landing URI; a
    month that is not published yet (exit code 3) waits, deferred, and asks again
    (common.ingest)."""
    ingest = dataset.ingest
    return (
        Job(
            "download",
            "spark",
            (
                "--uri",
                run_value("source_url", PLAN_TASK),
                "--dest",
                run_value("landing_uri", PLAN_TASK),
                "--dataset",
                dataset.name,
                "--min-bytes",
                run_value("min_bytes", PLAN_TASK),
                "--max-bytes",
                str(ingest.max_bytes),
                "--deadline",
                "2700",
                "--run-id",
                RUN_ID,
            ),
            module=_spark_module("download"),
            service_account="ingest",
            resources=COPY_RESOURCES,
            timeout=timedelta(hours=1),
            accesses=(landing_write(dataset),),
            doc=(
                f"Download the {dataset.name} month from the publisher, verify it (Parquet, "
                "columns, rows, size) and upload it to the landing bucket unless unchanged "
                "(sha256). Not published yet: waits (deferred) and asks again."
            ),
        ),
    )


def full_refresh_jobs(dataset: Dataset) -> tuple[Job, ...]:
    """transfer → group schemas → initial load → dbt build (full) → train from scratch."""
    prefix = run_value("staging_prefix")
    local_transfer = Job(
        "transfer",
        "spark",
        (
            "--uri",
            run_value("landing_uri"),
            "--dest",
            prefix,
            "--glob",
            run_value("file_glob"),
            "--run-id",
            RUN_ID,
        ),
        module=_spark_module("copy_files"),
        service_account="transfer",
        resources=COPY_RESOURCES,
    )
    return (
        Job(
            "transfer",
            "cloud-sdk",
            (
                "transfer",
                "jobs",
                "run",
                # One transfer job per dataset: <TRANSFER_JOB_PREFIX>-<dataset> copies only
                # that dataset's files to <STAGING_URI>/<dataset>/ (components/s3-transfer).
                f"$(TRANSFER_JOB_PREFIX)-{dataset.name}",
                "--project=$(GCP_PROJECT)",
                "--no-async",
            ),
            command=("gcloud",),
            env={"CLOUDSDK_CONFIG": "/tmp/gcloud", "HOME": "/tmp"},
            timeout=timedelta(hours=6),
            local=local_transfer,
            resources=COPY_RESOURCES,
            accesses=(TRANSFER_RUN,),
            doc=(
                "Run the Storage Transfer Service job (S3 landing → staging) and wait for it; "
                "locally, a streaming copy of the landing folder."
            ),
        ),
        Job(
            "group_schemas",
            "spark",
            ("--uri", prefix, "--run-id", RUN_ID),
            module=_spark_module("group_schemas"),
            resources=COPY_RESOURCES,
            accesses=(gcs("staging", "read"),),
            doc="Schema groups from the Parquet footers only.",
        ),
        Job(
            "initial_load",
            "spark",
            ("--uri", prefix, "--run-id", RUN_ID),
            module=_spark_module("initial_load"),
            optional_args=(("--from", run_value("from")), ("--to", run_value("to"))),
            kind="spark",
            spark=SPARK_HISTORY,
            timeout=timedelta(hours=6),
            accesses=(gcs("staging", "read"), *_SPARK_LOAD),
            doc="One distributed read per schema group, cast, load all history.",
        ),
        Job(
            "dbt_build",
            "dbt",
            ("build", "--full-refresh"),
            module="taxi_dbt.runner",
            resources=DBT_RESOURCES,
            timeout=timedelta(hours=2),
            accesses=_DBT_BUILD,
        ),
        Job(
            "train",
            "ml",
            ("--from-scratch", "--run-id", RUN_ID),
            module="taxi_ml.train",
            resources=ML_RESOURCES,
            timeout=timedelta(hours=4),
            accesses=_ML,
            doc=(
                "Train from scratch with a hyperparameter search, on a bounded deterministic "
                "sample of all history (ml/README.md)."
            ),
        ),
    )


def access_matrix() -> list[dict]:
    """Every job of every enabled dataset with its service account and accesses (JSON-ready):
    ``python -m common.jobs`` prints it for the TypeScript check against the IAM render."""
    from common import datasets

    rows = []
    for ds in datasets.enabled():
        tables = [
            (ds.batch_dag_id, batch_jobs(ds)),
            (ds.full_refresh_dag_id, full_refresh_jobs(ds)),
        ]
        if ds.ingest_from is not None:
            tables.append((ds.ingest_dag_id, ingest_jobs(ds)))
        for dag_id, table in tables:
            for job in table:
                rows.append(
                    {
                        "dag": dag_id,
                        "task": job.task_id,
                        "serviceAccount": job.account,
                        "accesses": [a.as_dict() for a in job.accesses],
                    }
                )
    return rows


if __name__ == "__main__":
    import json
    import sys

    json.dump(access_matrix(), sys.stdout, indent=1)
    sys.stdout.write("\n")
