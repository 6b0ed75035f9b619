"""Platform settings read from the environment (the ``pipeline-env`` ConfigMap, ARCHITECTURE.md §3).

Only this module reads ``os.environ``. Jobs call :func:`load` (train, retrain) or
:func:`load_serving` (the HTTP service, which needs no warehouse) once and pass the typed result
down; a missing or malformed key raises :class:`ConfigError` naming the key, what is expected and
where the value normally comes from (the command then exits 2).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from taxi_ml.errors import ConfigError

RUNTIMES = ("kubernetes", "local")
WAREHOUSES = ("bigquery", "duckdb")
DEFAULT_MODEL_NAME = "fare-model"
_DATASET_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")
_MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,255}$")
_SOURCE = "it is normally set by the pipeline-env ConfigMap (ARCHITECTURE.md §3)"
_TRACKING_SCHEMES = ("http", "https", "sqlite", "postgresql", "file", "databricks")


@dataclass(frozen=True)
class TrackingConfig:
    """Where MLflow lives and which registered model the jobs and the service use."""

    tracking_uri: str
    model_name: str
    experiment_name: str
    # Artifact root for a new experiment when the tracking store is a local database (local
    # runtime); None lets the tracking server decide (--serve-artifacts in the cluster).
    artifact_root: str | None


@dataclass(frozen=True)
class MlConfig:
    platform_env: str
    runtime: str
    warehouse: str
    dataset_raw: str
    dataset_marts: str
    tracking: TrackingConfig
    warehouse_path: str | None = None
    gcp_project: str | None = None
    gcp_region: str | None = None
    docs_uri: str | None = None


@dataclass(frozen=True)
class ServingConfig:
    tracking: TrackingConfig
    poll_seconds: float


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


def _dataset(env: Mapping[str, str], key: str, default: str) -> str:
    value = _get(env, key) or default
    if not _DATASET_RE.match(value):
        raise ConfigError(
            f"environment variable {key}={value!r} is not a valid dataset/schema name; use "
            "letters, digits and underscores, starting with a letter or underscore."
        )
    return value


def _docs_uri(env: Mapping[str, str]) -> str | None:
    value = _get(env, "DOCS_URI")
    if value is None:
        return None
    parsed = urlparse(value)
    if parsed.scheme == "gs" and parsed.netloc:
        return value.rstrip("/")
    if (
        parsed.scheme == "file"
        and parsed.netloc in ("", "localhost")
        and parsed.path.startswith("/")
    ):
        return value.rstrip("/")
    raise ConfigError(
        f"environment variable DOCS_URI={value!r} is not valid; expected gs://bucket[/prefix] "
        "or file:///absolute/path."
    )


def load_tracking(env: Mapping[str, str] | None = None) -> TrackingConfig:
    """MLflow settings: ``MLFLOW_TRACKING_URI`` (required), ``MODEL_NAME``,
    ``MLFLOW_EXPERIMENT_NAME`` (default: the model name), ``MLFLOW_ARTIFACT_ROOT``."""
    env = os.environ if env is None else env
    uri = _require(
        env,
        "MLFLOW_TRACKING_URI",
        "to reach the MLflow tracking server and model registry",
        "http://mlflow:5000 or sqlite:////tmp/taxi/mlflow.db",
    )
    scheme = urlparse(uri).scheme
    if scheme not in _TRACKING_SCHEMES:
        raise ConfigError(
            f"environment variable MLFLOW_TRACKING_URI={uri!r} has an unsupported scheme "
            f"{scheme or '(none)'!r}; expected one of {', '.join(_TRACKING_SCHEMES)} "
            "(e.g. http://mlflow:5000 or sqlite:////tmp/taxi/mlflow.db)."
        )
    if scheme == "file":
        raise ConfigError(
            f"environment variable MLFLOW_TRACKING_URI={uri!r} is a file store, which has no "
            "model registry aliases; use sqlite:////path/mlflow.db locally."
        )
    name = _get(env, "MODEL_NAME") or DEFAULT_MODEL_NAME
    if not _MODEL_NAME_RE.match(name):
        raise ConfigError(
            f"environment variable MODEL_NAME={name!r} is not a valid registered model name; use "
            "letters, digits, '.', '_' and '-' (e.g. fare-model)."
        )
    artifact_root = _get(env, "MLFLOW_ARTIFACT_ROOT")
    if artifact_root is None and scheme == "sqlite":
        # Keep local artifacts next to the database instead of ./mlruns in the current folder.
        db_path = uri.removeprefix("sqlite:///")
        if db_path and db_path != ":memory:":
            artifact_root = Path(db_path).resolve().parent.joinpath("mlartifacts").as_uri()
    return TrackingConfig(
        tracking_uri=uri,
        model_name=name,
        experiment_name=_get(env, "MLFLOW_EXPERIMENT_NAME") or name,
        artifact_root=artifact_root,
    )


def load(env: Mapping[str, str] | None = None) -> MlConfig:
    """Everything train and retrain need: the warehouse holding ``fare_features`` and MLflow.

    ``PLATFORM_RUNTIME`` and ``PLATFORM_ENV`` default to ``local``; ``BQ_DATASET_MARTS`` to
    ``marts`` and ``BQ_DATASET_RAW`` to ``raw``. What the chosen warehouse needs is required.
    """
    env = os.environ if env is None else env
    runtime = _choice(env, "PLATFORM_RUNTIME", RUNTIMES, default="local")
    warehouse = _choice(env, "WAREHOUSE", WAREHOUSES, default=None)
    cfg = MlConfig(
        platform_env=_get(env, "PLATFORM_ENV") or "local",
        runtime=runtime,
        warehouse=warehouse,
        dataset_raw=_dataset(env, "BQ_DATASET_RAW", "raw"),
        dataset_marts=_dataset(env, "BQ_DATASET_MARTS", "marts"),
        tracking=load_tracking(env),
        warehouse_path=_get(env, "WAREHOUSE_PATH"),
        gcp_project=_get(env, "GCP_PROJECT"),
        gcp_region=_get(env, "GCP_REGION"),
        docs_uri=_docs_uri(env),
    )
    if warehouse == "duckdb":
        _require(env, "WAREHOUSE_PATH", "when WAREHOUSE=duckdb", "/tmp/taxi/warehouse.duckdb")
    else:
        _require(env, "GCP_PROJECT", "when WAREHOUSE=bigquery", "my-project")
    return cfg


def load_serving(env: Mapping[str, str] | None = None) -> ServingConfig:
    """The HTTP service: MLflow settings plus ``MODEL_POLL_SECONDS`` (default 30), how often
    the champion alias is checked for a new version."""
    env = os.environ if env is None else env
    raw = _get(env, "MODEL_POLL_SECONDS") or "30"
    try:
        poll = float(raw)
    except ValueError:
        poll = -1.0
    if not 0.1 <= poll <= 3600:
        raise ConfigError(
            f"environment variable MODEL_POLL_SECONDS={raw!r} is not valid; expected a number of "
            "seconds between 0.1 and 3600 (default 30)."
        )
    return ServingConfig(tracking=load_tracking(env), poll_seconds=poll)
