"""Platform settings read from the environment (the ``pipeline-env`` ConfigMap,
docs/architecture.md).

Only this module reads ``os.environ`` for platform keys. The runner and the publisher call
:func:`load` once; a missing or malformed key fails with a message naming the key, what is
expected and where the value normally comes from (exit code 2).

Keys: ``PLATFORM_ENV``, ``PLATFORM_RUNTIME``, ``WAREHOUSE``, ``WAREHOUSE_PATH`` (duckdb),
``GCP_PROJECT`` and ``GCP_REGION`` (bigquery), ``BQ_DATASET_RAW``, ``BQ_DATASET_MARTS``,
``DOCS_URI`` (publisher) and ``MLFLOW_TRACKING_URI`` (carried, not used by dbt).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from taxi_common.envconfig import PIPELINE_ENV_SOURCE as _SOURCE
from taxi_common.envconfig import RUNTIMES, WAREHOUSES, EnvReader, one_of
from taxi_dbt.errors import ConfigError

__all__ = ["PROJECT_DIR", "RUNTIMES", "WAREHOUSES", "DbtConfig", "load"]

# A project id, optionally domain-scoped (example.com:my-project).
_PROJECT_RE = re.compile(r"^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")

# The dbt project is the folder holding dbt_project.yml: two levels above this package's folder.
PROJECT_DIR = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class DbtConfig:
    platform_env: str
    runtime: str
    warehouse: str  # the dbt target: duckdb | bigquery
    dataset_raw: str
    dataset_marts: str
    warehouse_path: str | None = None
    gcp_project: str | None = None
    gcp_region: str | None = None
    docs_uri: str | None = None
    mlflow_tracking_uri: str | None = None
    # BigQuery location of the datasets (pipeline-env BQ_LOCATION; default GCP_REGION).
    bq_location: str | None = None

    def dbt_env(self) -> dict[str, str]:
        """The variables profiles.yml and the sources read, with every default filled in."""
        env = {
            "WAREHOUSE": self.warehouse,
            "BQ_DATASET_RAW": self.dataset_raw,
            "BQ_DATASET_MARTS": self.dataset_marts,
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }
        if self.warehouse_path:
            env["WAREHOUSE_PATH"] = self.warehouse_path
        if self.gcp_project:
            env["GCP_PROJECT"] = self.gcp_project
        if self.gcp_region:
            env["GCP_REGION"] = self.gcp_region
        if self.bq_location:
            env["BQ_LOCATION"] = self.bq_location
        return env

    def require_docs_uri(self) -> str:
        if not self.docs_uri:
            raise ConfigError(
                "environment variable DOCS_URI is not set; it is required to publish the docs. "
                f"Set it, e.g. DOCS_URI=gs://my-docs-bucket or file:///tmp/taxi/docs ({_SOURCE})."
            )
        return self.docs_uri


def load(env: Mapping[str, str] | None = None, target: str | None = None) -> DbtConfig:
    """Read and validate the keys the dbt scripts use.

    ``target`` (the runner's ``--target``) overrides ``WAREHOUSE``. ``PLATFORM_RUNTIME`` and
    ``PLATFORM_ENV`` default to ``local``; the datasets default to ``raw`` and ``marts``;
    everything the chosen warehouse needs is required.
    """
    reader = EnvReader(env, ConfigError)
    runtime = reader.choice("PLATFORM_RUNTIME", RUNTIMES, default="local")
    if target is None:
        warehouse = reader.choice("WAREHOUSE", WAREHOUSES, hint=", or pass --target")
    else:
        warehouse = one_of("--target", target, WAREHOUSES, ConfigError)
    cfg = DbtConfig(
        platform_env=reader.get("PLATFORM_ENV") or "local",
        runtime=runtime,
        warehouse=warehouse,
        dataset_raw=reader.dataset("BQ_DATASET_RAW", "raw"),
        dataset_marts=reader.dataset("BQ_DATASET_MARTS", "marts"),
        warehouse_path=reader.get("WAREHOUSE_PATH"),
        gcp_project=reader.get("GCP_PROJECT"),
        gcp_region=reader.get("GCP_REGION"),
        docs_uri=reader.get("DOCS_URI"),
        mlflow_tracking_uri=reader.get("MLFLOW_TRACKING_URI"),
        bq_location=reader.get("BQ_LOCATION") or reader.get("GCP_REGION"),
    )
    if warehouse == "duckdb":
        path = reader.require(
            "WAREHOUSE_PATH", "when the target is duckdb", "/tmp/taxi/warehouse.duckdb"
        )
        local = path.removeprefix("file://")
        if not local.startswith("/"):
            raise ConfigError(
                f"environment variable WAREHOUSE_PATH={path!r} must be an absolute path "
                "(or file:///absolute/path) to the DuckDB file the Spark loads write."
            )
        if not os.path.isfile(local):
            raise ConfigError(
                f"WAREHOUSE_PATH={path!r} does not exist: run the Spark load first (it creates "
                "the warehouse file with the raw trips), or point WAREHOUSE_PATH at it."
            )
    else:
        project = reader.require("GCP_PROJECT", "when the target is bigquery", "my-project")
        if not _PROJECT_RE.match(project):
            raise ConfigError(
                f"environment variable GCP_PROJECT={project!r} is not a valid project id "
                "(6-30 lower-case letters, digits and hyphens, starting with a letter)."
            )
    return cfg
