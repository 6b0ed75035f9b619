"""Platform settings read from the environment (the ``pipeline-env`` ConfigMap,
docs/architecture.md).

Only this module reads ``os.environ`` for platform keys. Jobs call :func:`load` once and pass the
typed :class:`PlatformConfig` down; a missing or malformed key fails with a message naming the
key, the accepted values and where the value normally comes from (the reading rules and the
messages are :mod:`taxi_common.envconfig`'s, shared with dbt/ and ml/).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from taxi_common.envconfig import RUNTIMES, WAREHOUSES, EnvReader
from taxi_spark.errors import ConfigError

__all__ = ["RUNTIMES", "WAREHOUSES", "PlatformConfig", "load"]


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


def load(env: Mapping[str, str] | None = None) -> PlatformConfig:
    """Read and validate the platform keys the Spark jobs use.

    ``PLATFORM_RUNTIME`` defaults to ``local`` and ``PLATFORM_ENV`` to ``local`` so a developer
    can run a job with only the warehouse keys set; everything the chosen warehouse needs is
    required.
    """
    reader = EnvReader(env, ConfigError)
    runtime = reader.choice("PLATFORM_RUNTIME", RUNTIMES, default="local")
    warehouse = reader.choice("WAREHOUSE", WAREHOUSES)
    dataset_raw = reader.dataset("BQ_DATASET_RAW", why="to name the raw dataset/schema")
    cfg = PlatformConfig(
        platform_env=reader.get("PLATFORM_ENV") or "local",
        runtime=runtime,
        warehouse=warehouse,
        dataset_raw=dataset_raw,
        gcp_project=reader.get("GCP_PROJECT"),
        gcp_region=reader.get("GCP_REGION"),
        staging_uri=reader.get("STAGING_URI"),
        docs_uri=reader.get("DOCS_URI"),
        spark_temp_bucket=reader.get("SPARK_TEMP_BUCKET"),
        dataset_marts=reader.get("BQ_DATASET_MARTS"),
        warehouse_path=reader.get("WAREHOUSE_PATH"),
    )
    if warehouse == "duckdb":
        reader.require("WAREHOUSE_PATH", "when WAREHOUSE=duckdb", "/tmp/taxi/warehouse.duckdb")
    else:
        reader.require("GCP_PROJECT", "when WAREHOUSE=bigquery", "my-project")
        bucket = reader.require(
            "SPARK_TEMP_BUCKET", "when WAREHOUSE=bigquery (connector staging)", "my-spark-temp"
        )
        if "/" in bucket.removeprefix("gs://"):
            raise ConfigError(
                f"environment variable SPARK_TEMP_BUCKET={bucket!r} must be a bucket name, "
                "not a path (e.g. my-spark-temp or gs://my-spark-temp)."
            )
    return cfg
