"""Platform settings read from the environment (the ``pipeline-env`` ConfigMap, ARCHITECTURE.md §3).

Only this module reads ``os.environ`` for platform keys. Jobs call :func:`load` once and pass the
typed :class:`PlatformConfig` down; a missing or malformed key fails with a message naming the
key, the accepted values and where the value normally comes from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from taxi_spark.errors import ConfigError

RUNTIMES = ("kubernetes", "local")
WAREHOUSES = ("bigquery", "duckdb")
_DATASET_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")
_SOURCE = "it is normally set by the pipeline-env ConfigMap (ARCHITECTURE.md §3)"


@dataclass(frozen=True)
class PlatformConfig:
    platform_env: str
    runtime: str
    warehouse: str
    dataset_raw: str
    gcp_project: str | None = None
    gcp_region: str | None = None
    staging_uri: str | None = None
    docs_uri: str | None = None
    spark_temp_bucket: str | None = None
    dataset_marts: str | None = None
    warehouse_path: str | None = None


def _get(env: Mapping[str, str], key: str) -> str | None:
    value = env.get(key)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _require(env: Mapping[str, str], key: str, why: str, example: str) -> str:
    value = _get(env, key)
    if value is None:
        raise ConfigError(
            f"environment variable {key} is not set; it is required {why}. "
            f"Set it, e.g. {key}={example} ({_SOURCE})."
        )
    return value


def _choice(env: Mapping[str, str], key: str, choices: tuple[str, ...], default: str | None) -> str:
    value = _get(env, key)
    if value is None:
        if default is None:
            raise ConfigError(
                f"environment variable {key} is not set; expected one of {', '.join(choices)} "
                f"({_SOURCE})."
            )
        return default
    if value not in choices:
        raise ConfigError(
            f"environment variable {key}={value!r} is not valid; expected one of "
            f"{', '.join(choices)}."
        )
    return value


def load(env: Mapping[str, str] | None = None) -> PlatformConfig:
    """Read and validate the platform keys the Spark jobs use.

    ``PLATFORM_RUNTIME`` defaults to ``local`` and ``PLATFORM_ENV`` to ``local`` so a developer
    can run a job with only the warehouse keys set; everything the chosen warehouse needs is
    required.
    """
    env = os.environ if env is None else env
    runtime = _choice(env, "PLATFORM_RUNTIME", RUNTIMES, default="local")
    warehouse = _choice(env, "WAREHOUSE", WAREHOUSES, default=None)
    dataset_raw = _require(env, "BQ_DATASET_RAW", "to name the raw dataset/schema", "raw")
    if not _DATASET_RE.match(dataset_raw):
        raise ConfigError(
            f"environment variable BQ_DATASET_RAW={dataset_raw!r} is not a valid dataset name; "
            "use letters, digits and underscores, starting with a letter or underscore."
        )
    cfg = PlatformConfig(
        platform_env=_get(env, "PLATFORM_ENV") or "local",
        runtime=runtime,
        warehouse=warehouse,
        dataset_raw=dataset_raw,
        gcp_project=_get(env, "GCP_PROJECT"),
        gcp_region=_get(env, "GCP_REGION"),
        staging_uri=_get(env, "STAGING_URI"),
        docs_uri=_get(env, "DOCS_URI"),
        spark_temp_bucket=_get(env, "SPARK_TEMP_BUCKET"),
        dataset_marts=_get(env, "BQ_DATASET_MARTS"),
        warehouse_path=_get(env, "WAREHOUSE_PATH"),
    )
    if warehouse == "duckdb":
        _require(env, "WAREHOUSE_PATH", "when WAREHOUSE=duckdb", "/tmp/taxi/warehouse.duckdb")
    else:
        _require(env, "GCP_PROJECT", "when WAREHOUSE=bigquery", "my-project")
        bucket = _require(
            env, "SPARK_TEMP_BUCKET", "when WAREHOUSE=bigquery (connector staging)", "my-spark-temp"
        )
        if "/" in bucket.removeprefix("gs://"):
            raise ConfigError(
                f"environment variable SPARK_TEMP_BUCKET={bucket!r} must be a bucket name, "
                "not a path (e.g. my-spark-temp or gs://my-spark-temp)."
            )
    return cfg
