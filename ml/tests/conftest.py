"""Shared fixtures: a generated fare_features table in DuckDB and a local MLflow store.

Every test gets its own warehouse file, its own SQLite tracking database (copied from one
migrated template, which saves MLflow's ~10 s schema migration per test) and its own artifact
root, all below pytest's tmp_path. Nothing is mocked: training, the registry and the HTTP
service run for real.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from taxi_ml import synthetic

MONTHS = synthetic.month_range("2024-10", "2025-01")
ROWS_PER_MONTH = 2500


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> Iterator[None]:
    # The test machine's 2 cores are shared by other suites: OpenMP spin-waiting on an
    # oversubscribed machine makes gradient boosting 10-50x slower than one thread.
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def fare_frame() -> pd.DataFrame:
    """Four months of trips at constant prices."""
    return synthetic.fare_features(ROWS_PER_MONTH, MONTHS, seed=11)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()  # creates and migrates the schema
    return path


@dataclass
class Platform:
    root: Path
    warehouse: Path
    tracking_uri: str
    docs: Path

    def write_features(self, df: pd.DataFrame) -> None:
        synthetic.write_duckdb(df, self.warehouse, schema="marts")


def make_platform(root: Path, template: Path, mp: pytest.MonkeyPatch) -> Platform:
    db = root / "mlflow.db"
    shutil.copyfile(template, db)
    platform = Platform(
        root=root,
        warehouse=root / "warehouse.duckdb",
        tracking_uri=f"sqlite:///{db}",
        docs=root / "docs",
    )
    for key in ("MLFLOW_ARTIFACT_ROOT", "MLFLOW_EXPERIMENT_NAME", "GCP_PROJECT", "DOCS_URI"):
        mp.delenv(key, raising=False)
    mp.setenv("PLATFORM_ENV", "test")
    mp.setenv("PLATFORM_RUNTIME", "local")
    mp.setenv("WAREHOUSE", "duckdb")
    mp.setenv("WAREHOUSE_PATH", str(platform.warehouse))
    mp.setenv("BQ_DATASET_RAW", "raw")
    mp.setenv("BQ_DATASET_MARTS", "marts")
    mp.setenv("MLFLOW_TRACKING_URI", platform.tracking_uri)
    mp.setenv("MODEL_NAME", "fare-model")
    mp.setenv("DOCS_URI", platform.docs.as_uri())
    return platform


@pytest.fixture
def platform(tmp_path: Path, mlflow_template: Path, monkeypatch: pytest.MonkeyPatch) -> Platform:
    return make_platform(tmp_path, mlflow_template, monkeypatch)


@pytest.fixture(autouse=True)
def _no_active_run() -> Iterator[None]:
    yield
    import mlflow

    while mlflow.active_run() is not None:  # a failed test must not leak its run
        mlflow.end_run("FAILED")


def run_cli(main, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    """Run a job's ``main`` in-process; its exit code, JSON summary (last stdout line), stderr."""
    code = main(argv)
    out, err = capsys.readouterr()
    lines = [line for line in out.splitlines() if line.strip()]
    summary = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return code, summary, err
