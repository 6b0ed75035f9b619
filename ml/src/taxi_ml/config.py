"""Platform settings read from the environment (the ``pipeline-env`` ConfigMap,
docs/architecture.md).

Only this module reads ``os.environ``. Jobs call :func:`load` (train, retrain) or
:func:`load_serving` (the HTTP service, which needs no warehouse) once and pass the typed result
down; a missing or malformed key raises :class:`ConfigError` naming the key, what is expected and
where the value normally comes from (the command then exits 2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from taxi_common.envconfig import RUNTIMES, WAREHOUSES, EnvReader
from taxi_ml.errors import ConfigError

__all__ = [
    "DEFAULT_MODEL_NAME",
    "RUNTIMES",
    "WAREHOUSES",
    "MlConfig",
    "ServingConfig",
    "ServingLimits",
    "TrackingConfig",
    "load",
    "load_serving",
    "load_tracking",
]

DEFAULT_MODEL_NAME = "fare-model"
_MODEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,255}$")
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
    # BigQuery location of the datasets (pipeline-env BQ_LOCATION, e.g. EU for multi-region
    # datasets; defaults to GCP_REGION): queries run there, not in the cluster's region.
    bq_location: str | None = None


@dataclass(frozen=True)
class ServingLimits:
    """Bounds of the public prediction API (it has no authentication; see serve.py)."""

    max_trips: int = 1000  # trips per request
    max_body_bytes: int = 1_048_576  # request body
    rate_per_minute: int = 600  # /predict requests per client per minute and replica; 0 = off
    max_in_flight: int = 32  # concurrent /predict requests per replica; more answer 503
    # Entries of X-Forwarded-For, from the right, to the client's address: 2 behind Google's
    # load balancer (it appends "<client>, <load balancer>"), 0 = the TCP peer.
    forwarded_hops: int = 0


@dataclass(frozen=True)
class ServingConfig:
    tracking: TrackingConfig
    poll_seconds: float
    limits: ServingLimits = ServingLimits()
    # Where the tracking server keeps what it serves as mlflow-artifacts:/ (its
    # --artifacts-destination): the service then reads model files there with its own
    # credentials instead of streaming them through the server. None: through the server.
    artifacts_destination: str | None = None


def _docs_uri(reader: EnvReader) -> str | None:
    value = reader.get("DOCS_URI")
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
    reader = EnvReader(env, ConfigError)
    uri = reader.require(
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
    name = reader.get("MODEL_NAME") or DEFAULT_MODEL_NAME
    if not _MODEL_NAME_RE.match(name):
        raise ConfigError(
            f"environment variable MODEL_NAME={name!r} is not a valid registered model name; use "
            "letters, digits, '.', '_' and '-' (e.g. fare-model)."
        )
    artifact_root = reader.get("MLFLOW_ARTIFACT_ROOT")
    if artifact_root is None and scheme == "sqlite":
        # Keep local artifacts next to the database instead of ./mlruns in the current folder.
        db_path = uri.removeprefix("sqlite:///")
        if db_path and db_path != ":memory:":
            artifact_root = Path(db_path).resolve().parent.joinpath("mlartifacts").as_uri()
    return TrackingConfig(
        tracking_uri=uri,
        model_name=name,
        experiment_name=reader.get("MLFLOW_EXPERIMENT_NAME") or name,
        artifact_root=artifact_root,
    )


def load(env: Mapping[str, str] | None = None) -> MlConfig:
    """Everything train and retrain need: the warehouse holding ``fare_features`` and MLflow.

    ``PLATFORM_RUNTIME`` and ``PLATFORM_ENV`` default to ``local``; ``BQ_DATASET_MARTS`` to
    ``marts`` and ``BQ_DATASET_RAW`` to ``raw``. What the chosen warehouse needs is required.
    """
    reader = EnvReader(env, ConfigError)
    runtime = reader.choice("PLATFORM_RUNTIME", RUNTIMES, default="local")
    warehouse = reader.choice("WAREHOUSE", WAREHOUSES)
    cfg = MlConfig(
        platform_env=reader.get("PLATFORM_ENV") or "local",
        runtime=runtime,
        warehouse=warehouse,
        dataset_raw=reader.dataset("BQ_DATASET_RAW", "raw"),
        dataset_marts=reader.dataset("BQ_DATASET_MARTS", "marts"),
        tracking=load_tracking(reader.env),
        warehouse_path=reader.get("WAREHOUSE_PATH"),
        gcp_project=reader.get("GCP_PROJECT"),
        gcp_region=reader.get("GCP_REGION"),
        docs_uri=_docs_uri(reader),
        bq_location=reader.get("BQ_LOCATION") or reader.get("GCP_REGION"),
    )
    if warehouse == "duckdb":
        reader.require("WAREHOUSE_PATH", "when WAREHOUSE=duckdb", "/tmp/taxi/warehouse.duckdb")
    else:
        reader.require("GCP_PROJECT", "when WAREHOUSE=bigquery", "my-project")
    return cfg


def load_serving(env: Mapping[str, str] | None = None) -> ServingConfig:
    """The HTTP service: MLflow settings plus ``MODEL_POLL_SECONDS`` (default 30), how often
    the champion alias is checked for a new version."""
    reader = EnvReader(env, ConfigError)
    raw = reader.get("MODEL_POLL_SECONDS") or "30"
    try:
        poll = float(raw)
    except ValueError:
        poll = -1.0
    if not 0.1 <= poll <= 3600:
        raise ConfigError(
            f"environment variable MODEL_POLL_SECONDS={raw!r} is not valid; expected a number of "
            "seconds between 0.1 and 3600 (default 30)."
        )
    defaults = ServingLimits()

    def bounded(key: str, default: int, low: int, high: int, what: str) -> int:
        raw = reader.get(key)
        if raw is None:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise ConfigError(
                f"environment variable {key}={raw!r} is not valid; expected {what}, an integer "
                f"from {low} to {high} (default {default})."
            )
        return int(raw)

    limits = ServingLimits(
        max_trips=bounded("SERVE_MAX_TRIPS", defaults.max_trips, 1, 10_000, "trips per request"),
        max_body_bytes=bounded(
            "SERVE_MAX_BODY_BYTES", defaults.max_body_bytes, 1024, 16_777_216, "bytes"
        ),
        rate_per_minute=bounded(
            "SERVE_RATE_PER_MINUTE", defaults.rate_per_minute, 0, 1_000_000, "requests (0 = off)"
        ),
        max_in_flight=bounded(
            "SERVE_MAX_IN_FLIGHT", defaults.max_in_flight, 1, 1024, "concurrent requests"
        ),
        forwarded_hops=bounded("SERVE_FORWARDED_HOPS", 0, 0, 8, "X-Forwarded-For entries"),
    )
    destination = reader.get("MODEL_ARTIFACTS_DESTINATION")
    if destination is not None and urlparse(destination).scheme not in ("gs", "file", "s3"):
        raise ConfigError(
            f"environment variable MODEL_ARTIFACTS_DESTINATION={destination!r} is not valid; "
            "expected the tracking server's --artifacts-destination, e.g. "
            "gs://<project>-mlflow-artifacts/artifacts or file:///path/artifacts."
        )
    return ServingConfig(
        tracking=load_tracking(reader.env),
        poll_seconds=poll,
        limits=limits,
        artifacts_destination=destination.rstrip("/") if destination else None,
    )
