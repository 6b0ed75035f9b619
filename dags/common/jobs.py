"""The job table: every task of the batch and full-refresh DAGs, described once.

A :class:`Job` says what runs (component, module or command, arguments, extra env), with what
(resources, Spark sizing, node pool) and for how long. The runners in :mod:`common.runners`
turn one description into a Kubernetes Job, a SparkApplication or a local process; the DAG's
tasks and dependencies do not depend on the runtime.

Arguments may hold Airflow templates (``{{ run_id }}``, :func:`run_value`): the operator renders
them per run, so the DAG file itself stays free of run-time values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from common.datasets import Dataset

CHECK_TASK = "check_conf"
JOB_KINDS = ("job", "spark")


def run_value(key: str) -> str:
    """Template for one value returned by the run's ``check_conf`` task ('' when None)."""
    return f"{{{{ ti.xcom_pull(task_ids='{CHECK_TASK}')['{key}'] or '' }}}}"


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
    "dbt": Component("dbt", "IMAGE_DBT", "dbt", "dbt"),
    "ml": Component("ml", "IMAGE_ML", "ml", "ml"),
    # The Google Cloud CLI runs the Storage Transfer Service job (no Python of ours in it): the
    # stack's mirror of the one pinned release (components/shared/versions.ts), by digest.
    "cloud-sdk": Component("cloud-sdk", "IMAGE_CLOUD_SDK", "spark", None, run_as_user=1000),
    # The DAG helpers' own environment: no image, local runtime only (the dag.test() suite's
    # small jobs run in it).
    "dags": Component("dags", None, "airflow", "dags", local_pythonpath="."),
}


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
    memory_overhead: str = "512m"


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


def batch_jobs(dataset: Dataset) -> tuple[Job, ...]:
    """copy → validate → load → dbt build → retrain → publish docs, for one monthly file."""
    staged = run_value("staged_uri")
    return (
        Job(
            "copy_to_staging",
            "spark",
            ("--uri", run_value("source_uri"), "--dest", staged, "--run-id", RUN_ID),
            module=_spark_module("copy"),
            doc=f"Copy the {dataset.name} monthly file to <STAGING_URI>/{dataset.name}/.",
        ),
        Job(
            "validate",
            "spark",
            ("--uri", staged, "--run-id", RUN_ID),
            module=_spark_module("validate"),
            kind="spark",
            spark=SparkSizing(executor_instances=1),
            doc="Great Expectations on Spark; below the threshold the run fails.",
        ),
        Job(
            "load",
            "spark",
            ("--uri", staged, "--run-id", RUN_ID),
            module=_spark_module("batch"),
            kind="spark",
            spark=SparkSizing(),
            timeout=timedelta(hours=2),
            doc="Canonical schema → trips; the file's date partitions are overwritten.",
        ),
        Job(
            "dbt_build",
            "dbt",
            # Rebuild exactly the dates of this month, also when an old month is re-delivered.
            ("build", "--vars", '{"source_month": "' + run_value("month") + '"}'),
            module="taxi_dbt.runner",
            resources=Resources(cpu_request="500m", memory_request="1Gi", memory_limit="2Gi"),
            doc="staging → intermediate → marts, for the dates of this month.",
        ),
        Job(
            "retrain",
            "ml",
            ("--month", run_value("month")),
            module="taxi_ml.retrain",
            resources=Resources(cpu_request="1", memory_request="2Gi", memory_limit="4Gi"),
            doc="Retrain the fare model on the new month; promoted only if better.",
        ),
        Job(
            "publish_docs",
            "dbt",
            (),
            module="taxi_dbt.publish",
            doc="dbt docs (one HTML file) and reports → DOCS_URI.",
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
        module=_spark_module("copy"),
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
            doc="Schema groups from the Parquet footers only.",
        ),
        Job(
            "initial_load",
            "spark",
            ("--uri", prefix, "--run-id", RUN_ID),
            module=_spark_module("initial_load"),
            optional_args=(("--from", run_value("from")), ("--to", run_value("to"))),
            kind="spark",
            spark=SparkSizing(executor_instances=4, executor_memory="4g"),
            timeout=timedelta(hours=6),
            doc="One distributed read per schema group, cast, load all history.",
        ),
        Job(
            "dbt_build",
            "dbt",
            ("build", "--full-refresh"),
            module="taxi_dbt.runner",
            resources=Resources(cpu_request="500m", memory_request="1Gi", memory_limit="2Gi"),
            timeout=timedelta(hours=2),
        ),
        Job(
            "train",
            "ml",
            ("--from-scratch",),
            module="taxi_ml.train",
            resources=Resources(cpu_request="1", memory_request="4Gi", memory_limit="8Gi"),
            timeout=timedelta(hours=4),
            doc="Train from scratch with a hyperparameter search.",
        ),
    )
