"""retrain: the challenger is promoted only when it beats the champion on the same holdout."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from conftest import MONTHS, ROWS_PER_MONTH, Platform, run_cli
from taxi_ml import retrain, synthetic, train

NEW_MONTH = MONTHS[-1]  # 2025-01
FAST = ["--param", "max_iter=120"]


def test_challenger_trained_after_a_price_rise_is_promoted(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    # Prices rise 25% in the new month: a champion trained before it cannot know.
    frame = synthetic.fare_features(
        ROWS_PER_MONTH, MONTHS, seed=11, price_multiplier={NEW_MONTH: 1.25}
    )
    platform.write_features(frame)
    code, first, _ = run_cli(train.main, ["--max-trials", "1", *FAST, "--to", MONTHS[-2]], capsys)
    assert (code, first["champion_version"]) == (0, "1")

    code, summary, _ = run_cli(
        retrain.main,
        ["--month", NEW_MONTH, "--history-months", "1", "--run-id", "r1"],
        capsys,
    )
    assert code == 0, summary
    assert summary["data_months"] == "2024-12..2025-01"
    assert summary["params_source"] == "champion version 1"
    assert summary["params"]["max_iter"] == 120  # the champion's hyperparameters
    assert summary["challenger_rmse"] <= summary["champion_rmse"] * (1 - 0.02)
    assert (summary["decision"], summary["model_version"], summary["champion_version"]) == (
        "promoted",
        "2",
        "2",
    )
    assert summary["previous_champion_version"] == "1"

    client = MlflowClient(platform.tracking_uri)
    assert str(client.get_model_version_by_alias("fare-model", "champion").version) == "2"
    tags = client.get_model_version("fare-model", "2").tags
    assert tags["decision"] == "promoted"
    assert tags["promoted_over"] == "1"
    assert float(tags["champion_rmse"]) == pytest.approx(summary["champion_rmse"])
    run = client.get_run(summary["mlflow_run_id"])
    assert run.data.tags["taxi.job"] == "retrain"
    assert run.data.tags["decision"] == "promoted"
    assert run.data.metrics["champion_rmse"] == pytest.approx(summary["champion_rmse"])
    assert "promoted" in (platform.docs / "model" / "index.html").read_text()


def test_weak_challenger_is_registered_but_the_champion_is_kept(
    platform: Platform, fare_frame, capsys: pytest.CaptureFixture[str]
) -> None:
    platform.write_features(fare_frame)
    assert run_cli(train.main, ["--max-trials", "1", *FAST], capsys)[0] == 0

    # A tiny budget: five boosting rounds at a low learning rate cannot fit the fare.
    code, summary, _ = run_cli(
        retrain.main,
        ["--month", NEW_MONTH, "--param", "max_iter=5", "--param", "learning_rate=0.05"],
        capsys,
    )
    assert code == 0, summary
    assert summary["params"]["max_iter"] == 5
    assert summary["challenger_rmse"] > summary["champion_rmse"]
    assert (summary["decision"], summary["model_version"], summary["champion_version"]) == (
        "kept",
        "2",
        "1",
    )
    assert summary["improvement"] < 0

    client = MlflowClient(platform.tracking_uri)
    assert str(client.get_model_version_by_alias("fare-model", "champion").version) == "1"
    assert client.get_model_version("fare-model", "2").tags["decision"] == "kept"
    assert "promoted_by_run" not in client.get_model_version("fare-model", "2").tags
    run = client.get_run(summary["mlflow_run_id"])
    assert run.data.tags["decision"] == "kept"
    assert float(run.data.tags["challenger_rmse"]) == pytest.approx(summary["challenger_rmse"])


def test_without_champion_the_challenger_is_promoted(
    platform: Platform, fare_frame, capsys: pytest.CaptureFixture[str]
) -> None:
    platform.write_features(fare_frame)
    code, summary, _ = run_cli(retrain.main, ["--month", NEW_MONTH, *FAST], capsys)
    assert code == 0
    assert (summary["decision"], summary["decision_reason"]) == ("promoted", "no champion yet")
    assert (summary["params_source"], summary["champion_rmse"]) == ("defaults", None)
    assert summary["champion_version"] == "1"


def test_a_retry_of_the_same_run_registers_no_second_version(
    platform: Platform, fare_frame, capsys: pytest.CaptureFixture[str]
) -> None:
    """Airflow retries retrain with the same run id (e.g. after a failure past registration):
    the version registered by the first try is reused (issue 27, defect 3)."""
    platform.write_features(fare_frame)
    argv = ["--month", NEW_MONTH, *FAST, "--run-id", "scheduled__2025-02-01"]
    code, first, _ = run_cli(retrain.main, argv, capsys)
    assert (code, first["model_version"]) == (0, "1")
    code, again, _ = run_cli(retrain.main, argv, capsys)
    assert code == 0, again
    assert again["reused"] is True
    assert (again["model_version"], again["decision"]) == ("1", first["decision"])
    client = MlflowClient(platform.tracking_uri)
    assert [str(v.version) for v in client.search_model_versions("name = 'fare-model'")] == ["1"]
    # another run id is not a retry of this one, but over the same rows and hyperparameters it
    # has nothing new to judge (issue 21): version 1 stays, the registry does not grow
    code, other, _ = run_cli(retrain.main, [*argv[:-1], "scheduled__2025-03-01"], capsys)
    assert (code, other["model_version"], other["decision"]) == (0, "1", "unchanged")
    assert "reused" not in other
    assert [str(v.version) for v in client.search_model_versions("name = 'fare-model'")] == ["1"]


def test_month_without_rows_exits_2(
    platform: Platform, fare_frame, capsys: pytest.CaptureFixture[str]
) -> None:
    platform.write_features(fare_frame)
    code, _, err = run_cli(retrain.main, ["--month", "2025-06"], capsys)
    assert code == 2
    assert "no rows for --month 2025-06" in err


def _versions(platform: Platform) -> list[str]:
    client = MlflowClient(platform.tracking_uri)
    return sorted(str(mv.version) for mv in client.search_model_versions("name = 'fare-model'"))


def _champion(platform: Platform) -> str:
    client = MlflowClient(platform.tracking_uri)
    return str(client.get_model_version_by_alias("fare-model", "champion").version)


def test_rerun_of_unchanged_months_keeps_the_champion_and_registers_nothing(
    platform: Platform, fare_frame, capsys: pytest.CaptureFixture[str]
) -> None:
    platform.write_features(fare_frame)
    first = [
        run_cli(retrain.main, ["--month", m, "--history-months", "1", *FAST], capsys)[1]
        for m in MONTHS[-2:]
    ]
    assert [s["decision"] for s in first] == ["promoted", "promoted"], first
    assert (_versions(platform), _champion(platform)) == (["1", "2"], "2")

    # The same months again, same rows: the npm start re-run that used to add a version per
    # month and move the champion every time.
    for month, earlier in zip(MONTHS[-2:], ["1", "2"], strict=True):
        code, summary, _ = run_cli(
            retrain.main, ["--month", month, "--history-months", "1", *FAST], capsys
        )
        assert code == 0, summary
        assert (summary["decision"], summary["model_version"]) == ("unchanged", earlier)
        assert summary["champion_version"] == "2"
        assert f"version {earlier}" in summary["decision_reason"]
    assert (_versions(platform), _champion(platform)) == (["1", "2"], "2")

    # Changed rows are new evidence: the month is retrained and judged again.
    platform.write_features(synthetic.fare_features(ROWS_PER_MONTH, MONTHS, seed=12))
    code, summary, _ = run_cli(
        retrain.main, ["--month", NEW_MONTH, "--history-months", "1", *FAST], capsys
    )
    assert (code, summary["model_version"]) == (0, "3")
    assert summary["decision"] in ("promoted", "kept")


def test_an_older_month_cannot_replace_a_champion_trained_on_newer_data(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    old_month = MONTHS[-2]
    platform.write_features(
        synthetic.fare_features(ROWS_PER_MONTH, MONTHS, seed=11, price_multiplier={NEW_MONTH: 1.25})
    )
    for month in (old_month, NEW_MONTH):
        code, summary, _ = run_cli(
            retrain.main, ["--month", month, "--history-months", "1", *FAST], capsys
        )
        assert (code, summary["decision"]) == (0, "promoted"), summary
    assert _champion(platform) == "2"

    # The old month is re-delivered with corrected rows: its challenger knows only the old
    # prices and wins on the old month's holdout, but the champion knows the newer month.
    platform.write_features(
        synthetic.fare_features(ROWS_PER_MONTH, MONTHS, seed=13, price_multiplier={NEW_MONTH: 1.25})
    )
    code, summary, _ = run_cli(
        retrain.main, ["--month", old_month, "--history-months", "1", *FAST], capsys
    )
    assert code == 0, summary
    assert summary["challenger_rmse"] <= summary["champion_rmse"] * (1 - 0.02), summary
    assert (summary["decision"], summary["model_version"]) == ("kept", "3")
    assert f"data through {NEW_MONTH}" in summary["decision_reason"]
    assert _champion(platform) == "2"
