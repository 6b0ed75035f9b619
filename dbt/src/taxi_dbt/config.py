"""Platform settings read from the environment (the ``pipeline-env`` ConfigMap, ARCHITECTURE.md §3).

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

from taxi_dbt.errors import ConfigError

RUNTIMES = ("kubernetes", "local")
WAREHOUSES = ("bigquery", "duckdb")
_DATASET_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")
# A project id, optionally domain-scoped (example.com:my-project).
_PROJECT_RE = re.compile(r"^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_SOURCE = "it is normally set by the pipeline-env ConfigMap (ARCHITECTURE.md §3)"

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
        return env

    def require_docs_uri(self) -> str:
        if not self.docs_uri:
            raise ConfigError(
                "environment variable DOCS_URI is not set; it is required to publish the docs. "
                f"Set it, e.g. DOCS_URI=gs://my-docs-bucket or file:///tmp/taxi/docs ({_SOURCE})."
            )
        return self.docs_uri


def _get(env: Mapping[str, str], key: str) -> str | None:
    value = env.get(key)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _choice(env: Mapping[str, str], key: str, choices: tuple[str, ...], value: str | None) -> str:
    if value is None:
        raise ConfigError(
            f"environment variable {key} is not set; expected one of {', '.join(choices)} "
            f"({_SOURCE}), or pass --target."
        )
    if value not in choices:
        raise ConfigError(f"{key}={value!r} is not valid; expected one of {', '.join(choices)}.")
    return value


def _dataset(env: Mapping[str, str], key: str, default: str) -> str:
    value = _get(env, key) or default
    if not _DATASET_RE.match(value):
        raise ConfigError(
            f"environment variable {key}={value!r} is not a valid dataset name; use letters, "
            "digits and underscores, starting with a letter or underscore."
        )
    return value


def load(env: Mapping[str, str] | None = None, target: str | None = None) -> DbtConfig:
    """Read and validate the keys the dbt scripts use.

    ``target`` (the runner's ``--target``) overrides ``WAREHOUSE``. ``PLATFORM_RUNTIME`` and
    ``PLATFORM_ENV`` default to ``local``; the datasets default to ``raw`` and ``marts``;
    everything the chosen warehouse needs is required.
    """
    env = os.environ if env is None else env
    runtime_value = _get(env, "PLATFORM_RUNTIME") or "local"
    runtime = _choice(env, "PLATFORM_RUNTIME", RUNTIMES, runtime_value)
    warehouse = _choice(
        env, "WAREHOUSE" if target is None else "--target", WAREHOUSES,
        target if target is not None else _get(env, "WAREHOUSE"),
    )  # fmt: skip
    cfg = DbtConfig(
        platform_env=_get(env, "PLATFORM_ENV") or "local",
        runtime=runtime,
        warehouse=warehouse,
        dataset_raw=_dataset(env, "BQ_DATASET_RAW", "raw"),
        dataset_marts=_dataset(env, "BQ_DATASET_MARTS", "marts"),
        warehouse_path=_get(env, "WAREHOUSE_PATH"),
        gcp_project=_get(env, "GCP_PROJECT"),
        gcp_region=_get(env, "GCP_REGION"),
        docs_uri=_get(env, "DOCS_URI"),
        mlflow_tracking_uri=_get(env, "MLFLOW_TRACKING_URI"),
    )
    if warehouse == "duckdb":
        path = cfg.warehouse_path
        if path is None:
            raise ConfigError(
                "environment variable WAREHOUSE_PATH is not set; it is required when the "
                "target is duckdb. Set it, e.g. WAREHOUSE_PATH=/tmp/taxi/warehouse.duckdb "
                f"({_SOURCE})."
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
        project = cfg.gcp_project
        if project is None:
            raise ConfigError(
                "environment variable GCP_PROJECT is not set; it is required when the target "
                f"is bigquery. Set it, e.g. GCP_PROJECT=my-project ({_SOURCE})."
            )
        if not _PROJECT_RE.match(project):
            raise ConfigError(
                f"environment variable GCP_PROJECT={project!r} is not a valid project id "
                "(6-30 lower-case letters, digits and hyphens, starting with a letter)."
            )
    return cfg
