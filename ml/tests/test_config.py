from __future__ import annotations

from pathlib import Path

import pytest

from taxi_ml import config, retrain, train
from taxi_ml.errors import ConfigError

BASE = {
    "WAREHOUSE": "duckdb",
    "WAREHOUSE_PATH": "/tmp/w.duckdb",
    "MLFLOW_TRACKING_URI": "http://mlflow:5000",
}


def test_defaults_and_values() -> None:
    cfg = config.load({**BASE, "DOCS_URI": "gs://docs-bucket/site/", "GCP_REGION": "europe-west1"})
    assert (cfg.runtime, cfg.platform_env, cfg.dataset_marts, cfg.dataset_raw) == (
        "local",
        "local",
        "marts",
        "raw",
    )
    assert cfg.docs_uri == "gs://docs-bucket/site"
    assert cfg.tracking.model_name == "fare-model"
    assert cfg.tracking.experiment_name == "fare-model"
    assert cfg.tracking.artifact_root is None  # the tracking server decides (--serve-artifacts)


def test_sqlite_store_keeps_artifacts_next_to_the_database(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tracking = config.load_tracking({"MLFLOW_TRACKING_URI": uri, "MODEL_NAME": "m1"})
    assert tracking.artifact_root == (tmp_path / "mlartifacts").as_uri()
    assert tracking.model_name == "m1"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WAREHOUSE": None}, "WAREHOUSE is not set"),
        ({"WAREHOUSE": "postgres"}, "WAREHOUSE='postgres' is not valid"),
        ({"WAREHOUSE_PATH": None}, "WAREHOUSE_PATH is not set"),
        ({"WAREHOUSE": "bigquery"}, "GCP_PROJECT is not set"),
        ({"MLFLOW_TRACKING_URI": None}, "MLFLOW_TRACKING_URI is not set"),
        ({"MLFLOW_TRACKING_URI": "mlflow:5000"}, "MLFLOW_TRACKING_URI='mlflow:5000'"),
        ({"MLFLOW_TRACKING_URI": "file:///tmp/mlruns"}, "file store"),
        ({"PLATFORM_RUNTIME": "docker"}, "PLATFORM_RUNTIME='docker'"),
        ({"BQ_DATASET_MARTS": "marts-prod"}, "BQ_DATASET_MARTS='marts-prod'"),
        ({"DOCS_URI": "s3://bucket/docs"}, "DOCS_URI='s3://bucket/docs'"),
        ({"DOCS_URI": "file://relative/docs"}, "DOCS_URI="),
        ({"MODEL_NAME": "fare model"}, "MODEL_NAME='fare model'"),
    ],
)
def test_bad_environment_names_the_key(env: dict, named: str) -> None:
    merged = {**BASE, **env}
    with pytest.raises(ConfigError, match=named.replace("(", r"\(")):
        config.load({k: v for k, v in merged.items() if v is not None})


@pytest.mark.parametrize("value", ["0", "abc", "-5", "7200"])
def test_bad_poll_interval(value: str) -> None:
    with pytest.raises(ConfigError, match="MODEL_POLL_SECONDS"):
        config.load_serving(
            {"MLFLOW_TRACKING_URI": "http://mlflow:5000", "MODEL_POLL_SECONDS": value}
        )


def test_train_exits_2_naming_the_missing_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WAREHOUSE", "duckdb")
    monkeypatch.setenv("WAREHOUSE_PATH", "/tmp/nowhere.duckdb")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert train.main(["--max-trials", "1"]) == 2
    assert "MLFLOW_TRACKING_URI is not set" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--month", "2025-13"], "--month='2025-13' is not a month"),
        (["--month", "2025-01", "--margin", "1.5"], "--margin 1.5"),
        (["--month", "2025-01", "--param", "max_iter"], "NAME=VALUE"),
        (["--month", "2025-01", "--param", "depth=3"], "unknown hyperparameter 'depth'"),
        (["--month", "2025-01", "--param", "max_iter=many"], "max_iter='many' is not an integer"),
    ],
)
def test_retrain_bad_arguments_exit_2(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert retrain.main(argv) == 2
    assert named in capsys.readouterr().err


def test_train_missing_warehouse_file_exits_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WAREHOUSE", "duckdb")
    monkeypatch.setenv("WAREHOUSE_PATH", str(tmp_path / "missing.duckdb"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    assert train.main([]) == 2
    err = capsys.readouterr().err
    assert "missing.duckdb" in err
    assert "dbt build" in err


def test_bigquery_location_comes_from_bq_location_not_the_region() -> None:
    """prod keeps its datasets in the EU multi-region while the cluster is in europe-west1:
    queries must run in BQ_LOCATION (issue 27, defect 7)."""
    from google.auth.credentials import AnonymousCredentials

    from taxi_ml import data

    env = {**BASE, "WAREHOUSE": "bigquery", "GCP_PROJECT": "acme-taxi-prod"}
    cfg = config.load({**env, "GCP_REGION": "europe-west1", "BQ_LOCATION": "EU"})
    assert cfg.bq_location == "EU"
    client = data.bigquery_client(cfg, credentials=AnonymousCredentials())
    assert (client.project, client.location) == ("acme-taxi-prod", "EU")
    assert config.load({**env, "GCP_REGION": "europe-west1"}).bq_location == "europe-west1"
