"""MLflow plumbing: experiment set-up, logging the model, the ``champion`` alias and its history.

Promotion history is kept on the model versions themselves (MLflow keeps no alias history): a
promoted version gets the tags ``promoted_by_run``, ``promoted_over`` (the previous champion or
``none``) and ``promotion_reason``; every version gets ``decision`` and the metric values the
decision was based on.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from taxi_ml import MODEL_ALIAS
from taxi_ml.config import TrackingConfig
from taxi_ml.log import get_logger

log = get_logger(__name__)
JOB_TAG = "taxi.job"  # set on the top-level run of every train / retrain job
# On every version retrain registers: what it was trained and judged on (see training_fingerprint)
# and the last month of its data (a re-delivered older month cannot replace it).
FINGERPRINT_TAG = "training_fingerprint"
DATA_THROUGH_TAG = "data_through"


@dataclass(frozen=True)
class Champion:
    version: str
    run_id: str | None


def client_for(tracking: TrackingConfig):
    """A client for the tracking server and registry (read side: creates nothing)."""
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking.tracking_uri)
    mlflow.set_registry_uri(tracking.tracking_uri)
    return MlflowClient(tracking.tracking_uri, tracking.tracking_uri)


def connect(tracking: TrackingConfig):
    """:func:`client_for`, plus the experiment the jobs log to (created when missing)."""
    import mlflow

    client = client_for(tracking)
    exp = client.get_experiment_by_name(tracking.experiment_name)
    if exp is None:
        exp_id = client.create_experiment(
            tracking.experiment_name, artifact_location=tracking.artifact_root
        )
        log.info("experiment_created", name=tracking.experiment_name, id=exp_id)
    else:
        exp_id = exp.experiment_id
    mlflow.set_experiment(experiment_id=exp_id)
    return client


def champion(client, name: str) -> Champion | None:
    """The version behind ``<name>@champion``, or None when the model or the alias is absent."""
    found = client.search_registered_models(filter_string=f"name = '{name}'")
    if not found:
        return None
    version = found[0].aliases.get(MODEL_ALIAS) if found[0].aliases else None
    if version is None:
        # search results may omit aliases on some stores; ask the model itself.
        version = (client.get_registered_model(name).aliases or {}).get(MODEL_ALIAS)
    if version is None:
        return None
    mv = client.get_model_version(name, str(version))
    return Champion(version=str(mv.version), run_id=mv.run_id)


def training_fingerprint(
    train: pd.DataFrame, holdout: pd.DataFrame, params: dict[str, Any], seed: int
) -> str:
    """A digest of everything a retrain's outcome depends on: the training rows, the holdout
    rows (both as sets: row order does not matter), the hyperparameters and the seed.

    Two retrains with the same fingerprint train the same model and judge it on the same rows,
    so the second one has nothing new to say: it reuses the first one's version (see
    :func:`version_with_fingerprint`) instead of registering a copy.
    """
    digest = hashlib.sha256()
    for part in (train, holdout):
        columns = sorted(part.columns)
        rows = np.sort(pd.util.hash_pandas_object(part[columns], index=False).to_numpy())
        digest.update(json.dumps(columns).encode())
        digest.update(len(rows).to_bytes(8, "little"))
        digest.update(rows.tobytes())
    digest.update(
        json.dumps({"params": params, "seed": seed}, sort_keys=True, default=str).encode()
    )
    return digest.hexdigest()[:40]


def version_with_fingerprint(client, name: str, fingerprint: str) -> str | None:
    """The newest version of ``name`` registered with this training fingerprint, if any."""
    found = client.search_model_versions(
        filter_string=f"name = '{name}' and tags.{FINGERPRINT_TAG} = '{fingerprint}'"
    )
    versions = sorted((int(mv.version) for mv in found), reverse=True)
    return str(versions[0]) if versions else None


def data_through(client, name: str, version: str) -> str | None:
    """``YYYY-MM``: the last month of the data ``version`` was trained on, when recorded."""
    return (client.get_model_version(name, version).tags or {}).get(DATA_THROUGH_TAG) or None


# Types the skops format does not trust by default, reviewed for this pipeline: the fitted
# gradient-boosting trees, the validation helper the encoders keep and the seeded KFold of the
# target encoder.
# Loading a model file is as trusted as the registry it comes from (ours, written by train).
SKOPS_TRUSTED_TYPES = [
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "functools.partial",
    "sklearn.utils.validation.check_array",
    "sklearn.model_selection._split.KFold",
]


def pip_requirements() -> list[str]:
    """The model's runtime requirements, from the installed pins (no slow inference)."""
    from importlib.metadata import version

    return [
        f"{pkg}=={version(pkg)}" for pkg in ("mlflow", "scikit-learn", "skops", "pandas", "numpy")
    ]


def log_model(pipeline, example: pd.DataFrame, model_name: str) -> str:
    """Log ``pipeline`` (signature + input example) in the active run, register it; the version."""
    import mlflow
    from mlflow.models import infer_signature

    with warnings.catch_warnings():
        # "integer columns cannot represent missing values": intended, the service casts.
        warnings.filterwarnings("ignore", message=".*[Ii]nteger column", category=UserWarning)
        signature = infer_signature(example, pipeline.predict(example))
    info = mlflow.sklearn.log_model(
        pipeline,
        name="model",
        signature=signature,
        input_example=example.head(5),
        registered_model_name=model_name,
        pip_requirements=pip_requirements(),
        serialization_format="skops",
        skops_trusted_types=SKOPS_TRUSTED_TYPES,
    )
    version = str(info.registered_model_version)
    log.info("model_registered", model=model_name, version=version, model_uri=info.model_uri)
    return version


def load_version(name: str, version: str):
    """The fitted sklearn pipeline of ``models:/<name>/<version>``."""
    import mlflow

    return mlflow.sklearn.load_model(f"models:/{name}/{version}")


def record_decision(
    client,
    *,
    name: str,
    version: str,
    run_id: str,
    decision: str,
    reason: str,
    previous: Champion | None,
    values: dict[str, Any],
) -> None:
    """Tag run and version with the decision; move ``champion`` when it is ``promoted``."""
    tags = {"decision": decision, "decision_reason": reason}
    tags |= {k: ("" if v is None else str(v)) for k, v in values.items()}
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
        client.set_model_version_tag(name, version, key, value)
    if decision == "promoted":
        client.set_model_version_tag(name, version, "promoted_by_run", run_id)
        client.set_model_version_tag(
            name, version, "promoted_over", previous.version if previous else "none"
        )
        client.set_model_version_tag(name, version, "promotion_reason", reason)
        client.set_registered_model_alias(name, MODEL_ALIAS, version)
    log.info(
        "decision",
        model=name,
        version=version,
        decision=decision,
        reason=reason,
        previous_champion=previous.version if previous else None,
        **values,
    )


def champion_history(client, name: str) -> list[dict[str, Any]]:
    """Every promoted version, newest first: version, run, what it replaced, why, when."""
    rows = []
    for mv in client.search_model_versions(filter_string=f"name = '{name}'"):
        tags = mv.tags or {}
        if "promoted_by_run" not in tags:
            continue
        rows.append(
            {
                "version": int(mv.version),
                "run_id": mv.run_id,
                "promoted_over": tags.get("promoted_over", ""),
                "reason": tags.get("promotion_reason", ""),
                "created": pd.Timestamp(mv.creation_timestamp, unit="ms", tz="UTC").strftime(
                    "%Y-%m-%d %H:%M UTC"
                ),
            }
        )
    return sorted(rows, key=lambda r: r["version"], reverse=True)


def version_of_orchestrator_run(
    client, tracking: TrackingConfig, job: str, orchestrator_run_id: str
):
    """The model version that job ``job`` registered during the orchestrator (Airflow) run
    ``orchestrator_run_id`` (tag ``taxi.run_id`` of its MLflow run), or None.

    A retry of the same Airflow task finds it and reuses it instead of registering another
    version: train and retrain are idempotent per run.
    """
    name = tracking.model_name
    experiment = client.get_experiment_by_name(tracking.experiment_name)
    if experiment is None:
        return None
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=(
            f"tags.`{JOB_TAG}` = '{job}' and tags.`taxi.run_id` = '{orchestrator_run_id}'"
        ),
    )
    for run in runs:
        found = client.search_model_versions(
            filter_string=f"name = '{name}' and run_id = '{run.info.run_id}'"
        )
        if found:
            return max(found, key=lambda mv: int(mv.version))
    return None
