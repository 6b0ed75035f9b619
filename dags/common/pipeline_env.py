"""The ``pipeline-env`` contract (docs/architecture.md#pipeline-env), Python side.

``PIPELINE_ENV_KEYS`` is the Python owner of the key list; the TypeScript owner is
``components/airflow/pipeline-env.ts`` and a test on each side compares the two. This module is
the only place in ``dags/`` that reads these variables: in the cloud they come from the
``pipeline-env`` ConfigMap (Airflow's pod and every task pod), locally from the environment of
the Airflow process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

PIPELINE_ENV_KEYS: tuple[str, ...] = (
    "PLATFORM_ENV",
    "PLATFORM_RUNTIME",
    "GCP_PROJECT",
    "GCP_REGION",
    "BQ_LOCATION",
    "STAGING_URI",
    "DOCS_URI",
    "SPARK_TEMP_BUCKET",
    "WAREHOUSE",
    "BQ_DATASET_RAW",
    "BQ_DATASET_MARTS",
    "WAREHOUSE_PATH",
    "MLFLOW_TRACKING_URI",
    "JOBS_NAMESPACE",
    "JOBS_NODE_POOL",
    "IMAGE_SPARK",
    "IMAGE_DBT",
    "IMAGE_ML",
    "IMAGE_CLOUD_SDK",
    "S3_LANDING_BUCKET",
    "TRANSFER_JOB_PREFIX",
    "AWS_LANDING_ROLE_ARN",
    "AWS_INGEST_ROLE_ARN",
    "INGEST_SOURCE_URL",
    "INGEST_POKE_SECONDS",
    "INGEST_MONTHS",
    "INGEST_MIN_BYTES",
)

RUNTIMES = ("kubernetes", "local")
_SOURCE = (
    "it comes from the pipeline-env ConfigMap, or from the Airflow process environment locally"
)


class PipelineEnvError(ValueError):
    """A pipeline-env key is missing or malformed; the message names it and the fix."""


def runtime(env: Mapping[str, str] | None = None) -> str:
    """``PLATFORM_RUNTIME``: ``kubernetes`` (default, the deployed platform) or ``local``.

    Read when a DAG file is parsed, to pick the runner; both runtimes build the same tasks.
    """
    env = os.environ if env is None else env
    value = (env.get("PLATFORM_RUNTIME") or "").strip() or "kubernetes"
    if value not in RUNTIMES:
        raise PipelineEnvError(
            f"PLATFORM_RUNTIME={value!r} is not valid; expected one of {', '.join(RUNTIMES)} "
            f"({_SOURCE})."
        )
    return value


@dataclass(frozen=True)
class PipelineEnv:
    """The pipeline-env values that are set (empty strings count as unset)."""

    values: Mapping[str, str]

    def get(self, key: str) -> str | None:
        if key not in PIPELINE_ENV_KEYS:
            raise KeyError(f"{key} is not a pipeline-env key (see PIPELINE_ENV_KEYS)")
        return self.values.get(key)

    def require(self, key: str, why: str, example: str) -> str:
        value = self.get(key)
        if value is None:
            raise PipelineEnvError(
                f"pipeline-env key {key} is not set; it is needed {why}. Set it, e.g. "
                f"{key}={example} ({_SOURCE})."
            )
        return value

    @property
    def runtime(self) -> str:
        return runtime(self.values)


def read(env: Mapping[str, str] | None = None) -> PipelineEnv:
    """The pipeline-env keys present in ``env`` (default: ``os.environ``), stripped."""
    env = os.environ if env is None else env
    values = {}
    for key in PIPELINE_ENV_KEYS:
        value = (env.get(key) or "").strip()
        if value:
            values[key] = value
    return PipelineEnv(values)
