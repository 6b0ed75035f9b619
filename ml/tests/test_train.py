"""train against a real local MLflow store (SQLite + local artifacts) on generated data."""

from __future__ import annotations

import re

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from conftest import Platform, run_cli
from taxi_ml import features, synthetic, train

FAST = ["--param", "max_iter=120"]  # keeps each trial around a second on one thread


def test_train_registers_a_champion_that_learned_the_fare(
    platform: Platform, fare_frame, capsys: pytest.CaptureFixture[str]
) -> None:
    platform.write_features(fare_frame)
    code, summary, _ = run_cli(train.main, ["--max-trials", "3", *FAST, "--run-id", "t1"], capsys)

    assert code == 0, summary
    assert summary["status"] == "ok"
    assert (summary["decision"], summary["model_version"], summary["champion_version"]) == (
        "promoted",
        "1",
        "1",
    )
    assert summary["data_months"] == "2024-10..2025-01"
    assert summary["rows_train"] + summary["rows_holdout"] == len(fare_frame)
    m = summary["metrics"]
    # The generator's noise is σ = 1 USD: a model that learned the fare gets close to it,
    # far below the baseline (predicting the mean, ~11 USD).
    assert m["holdout_rmse"] < 1.6
    assert m["holdout_r2"] > 0.97
    assert m["holdout_rmse"] < m["baseline_rmse"] / 5

    client = MlflowClient(platform.tracking_uri)
    run = client.get_run(summary["mlflow_run_id"])
    assert run.data.tags["taxi.job"] == "train"
    assert run.data.tags["taxi.run_id"] == "t1"
    assert run.data.tags["decision"] == "promoted"
    assert run.data.params["max_iter"] == "120"
    assert run.data.metrics["holdout_rmse"] == pytest.approx(m["holdout_rmse"])
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {
        "plots/feature_importance.png",
        "plots/residuals.png",
        "plots/predicted_vs_actual.png",
    }
    trials = client.search_runs(
        [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert len(trials) == summary["trials"] == 3
    best = min(t.data.metrics["holdout_rmse"] for t in trials)
    assert best == pytest.approx(m["holdout_rmse"])

    mv = client.get_model_version_by_alias("fare-model", "champion")
    assert str(mv.version) == "1"
    assert mv.tags["decision"] == "promoted"
    assert mv.tags["promoted_over"] == "none"

    # The registered model takes raw fare_features columns and enforces its signature.
    model = mlflow.pyfunc.load_model("models:/fare-model@champion")
    inputs = {i.name for i in model.metadata.get_input_schema().inputs}
    assert inputs == set(features.FEATURES)
    fresh = synthetic.fare_features(400, ["2025-02"], seed=99, noise=0.0)
    pred = model.predict(features.to_model_frame(fresh))
    assert np.mean(np.abs(pred - synthetic.expected_fare(fresh))) < 1.0

    page = (platform.docs / "model" / "index.html").read_text()
    assert summary["report_uri"] == (platform.docs / "model" / "index.html").as_uri()
    assert len(re.findall(r"src='data:image/png;base64,[A-Za-z0-9+/=]{1000,}'", page)) == 3
    assert "Champion: <strong>version 1</strong>" in page
    assert f"{m['holdout_rmse']:,.3f}" in page


def test_second_train_keeps_the_champion_unless_from_scratch(
    platform: Platform, fare_frame, capsys: pytest.CaptureFixture[str]
) -> None:
    platform.write_features(fare_frame)
    args = ["--max-trials", "1", *FAST]
    assert run_cli(train.main, args, capsys)[0] == 0

    code, kept, _ = run_cli(train.main, [*args, "--from", "2024-11", "--to", "2025-01"], capsys)
    assert code == 0
    assert kept["data_months"] == "2024-11..2025-01"
    assert (kept["decision"], kept["model_version"], kept["champion_version"]) == ("kept", "2", "1")
    assert "champion version 1 exists" in kept["decision_reason"]

    code, promoted, _ = run_cli(train.main, [*args, "--from-scratch"], capsys)
    assert code == 0
    assert (promoted["decision"], promoted["model_version"]) == ("promoted", "3")
    assert promoted["champion_version"] == "3"
    assert promoted["previous_champion_version"] == "1"

    client = MlflowClient(platform.tracking_uri)
    assert client.get_model_version("fare-model", "2").tags["decision"] == "kept"
    assert client.get_model_version("fare-model", "3").tags["promoted_over"] == "1"
    page = (platform.docs / "model" / "index.html").read_text()
    history = page.split("Champion history", 1)[1].split("Diagnostics", 1)[0]
    assert history.count("<tr>") == 3  # header + versions 3 and 1


def test_model_that_cannot_beat_the_baseline_is_not_registered(
    platform: Platform, fare_frame, capsys: pytest.CaptureFixture[str]
) -> None:
    noise = fare_frame.copy()
    # Targets unrelated to the features: nothing to learn, so no model beats the mean.
    noise["fare_amount"] = np.random.default_rng(0).permutation(noise["fare_amount"].to_numpy())
    platform.write_features(noise)
    code, summary, err = run_cli(train.main, ["--max-trials", "1", *FAST], capsys)

    assert code == 1
    assert (summary["status"], summary["decision"], summary["model_version"]) == (
        "failed_check",
        "rejected",
        None,
    )
    assert summary["metrics"]["holdout_rmse"] >= summary["metrics"]["baseline_rmse"]
    assert "does not beat the baseline" in err
    assert MlflowClient(platform.tracking_uri).search_registered_models() == []


def test_too_few_rows_exits_2(
    platform: Platform, fare_frame, capsys: pytest.CaptureFixture[str]
) -> None:
    platform.write_features(fare_frame)
    code, _, err = run_cli(train.main, ["--from", "2025-01", "--min-rows", "5000"], capsys)
    assert code == 2
    assert "has 2500 rows for months 2025-01..…" in err


def test_a_retry_of_the_same_run_trains_and_registers_once(
    platform: Platform, fare_frame, capsys: pytest.CaptureFixture[str]
) -> None:
    """full_refresh's train retried by Airflow with the same run id: no second version."""
    platform.write_features(fare_frame)
    argv = ["--from-scratch", "--max-trials", "1", *FAST, "--run-id", "manual__full"]
    code, first, _ = run_cli(train.main, argv, capsys)
    assert (code, first["model_version"]) == (0, "1")
    code, again, _ = run_cli(train.main, argv, capsys)
    assert (code, again["reused"], again["model_version"]) == (0, True, "1")
    client = MlflowClient(platform.tracking_uri)
    assert [str(v.version) for v in client.search_model_versions("name = 'fare-model'")] == ["1"]
