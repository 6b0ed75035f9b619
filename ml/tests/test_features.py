from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from taxi_ml import config, data, features, modeling, storage, synthetic
from taxi_ml.errors import ConfigError, DataError

CONTRACT = {
    "trip_id": "VARCHAR",
    "pickup_date": "DATE",
    "pickup_month": "DATE",
    "pickup_hour": "INTEGER",
    "pickup_day_of_week": "INTEGER",
    "is_weekend": "BOOLEAN",
    "pickup_location_id": "INTEGER",
    "dropoff_location_id": "INTEGER",
    "pickup_borough": "VARCHAR",
    "dropoff_borough": "VARCHAR",
    "is_airport_trip": "BOOLEAN",
    "trip_distance": "DOUBLE",
    "passenger_count": "INTEGER",
    "ratecode_id": "INTEGER",
    "vendor_id": "INTEGER",
    "fare_amount": "DOUBLE",
}


def test_generated_table_follows_the_contract(tmp_path: Path) -> None:
    df = synthetic.fare_features(500, ["2025-01", "2025-02"], seed=3)
    synthetic.write_duckdb(df, tmp_path / "w.duckdb", schema="marts")
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        cols = con.execute("describe marts.fare_features").fetchall()
        stats = con.execute(
            "select count(*), count(distinct trip_id), min(fare_amount), max(fare_amount),"
            " min(pickup_day_of_week), max(pickup_day_of_week),"
            " count(*) filter (where is_weekend <> (pickup_day_of_week >= 6)),"
            " count(*) filter (where date_trunc('month', pickup_date) <> pickup_month)"
            " from marts.fare_features"
        ).fetchone()
    assert {c[0]: c[1] for c in cols} == CONTRACT
    assert stats[0] == stats[1] == 1000
    assert stats[2] >= 2.5
    assert stats[3] <= 500
    assert (stats[4], stats[5], stats[6], stats[7]) == (1, 7, 0, 0)


def test_generator_is_deterministic_and_follows_the_known_fare() -> None:
    a = synthetic.fare_features(300, ["2025-03"], seed=5, noise=0.0)
    b = synthetic.fare_features(300, ["2025-03"], seed=5, noise=0.0)
    pd.testing.assert_frame_equal(a, b)
    assert np.allclose(a["fare_amount"], np.clip(synthetic.expected_fare(a), 2.5, 500), atol=0.01)
    raised = synthetic.fare_features(
        300, ["2025-03"], seed=5, noise=0.0, price_multiplier={"2025-03": 1.5}
    )
    assert np.allclose(
        raised["fare_amount"], np.clip(1.5 * synthetic.expected_fare(a), 2.5, 500), atol=0.01
    )


def test_time_split_keeps_whole_days_and_the_latest_rows_out() -> None:
    df = synthetic.fare_features(1000, ["2025-01", "2025-02"], seed=1)
    df["pickup_date"] = pd.to_datetime(df["pickup_date"])
    train, holdout = features.time_split(df, 0.2)
    assert len(train) + len(holdout) == len(df)
    assert train["pickup_date"].max() < holdout["pickup_date"].min()
    assert 0.1 < len(holdout) / len(df) <= 0.2


def test_time_split_needs_two_days() -> None:
    df = synthetic.fare_features(50, ["2025-01"], seed=1)
    df["pickup_date"] = pd.Timestamp("2025-01-05")
    with pytest.raises(DataError, match="at least 2"):
        features.time_split(df, 0.2)


def test_model_frame_fills_allowed_nulls_and_casts() -> None:
    df = synthetic.fare_features(200, ["2025-01"], seed=2)
    df.loc[0, "ratecode_id"] = pd.NA
    df.loc[1, "pickup_borough"] = None
    frame = features.to_model_frame(df)
    assert list(frame.columns) == features.FEATURES
    assert {c: str(t) for c, t in frame.dtypes.items()} == features.DTYPES
    assert frame.loc[0, "ratecode_id"] == 99
    assert frame.loc[1, "pickup_borough"] == "Unknown"
    with pytest.raises(DataError, match="trip_distance"):
        features.to_model_frame(df.drop(columns=["trip_distance"]))
    df.loc[2, "pickup_hour"] = None
    with pytest.raises(DataError, match="pickup_hour has null"):
        features.to_model_frame(df)


def test_candidates_are_seeded_distinct_and_honour_pinned_params() -> None:
    first = modeling.candidate_params(6, seed=4, fixed={"max_iter": 50})
    assert first == modeling.candidate_params(6, seed=4, fixed={"max_iter": 50})
    assert first[0] == {**features.DEFAULT_PARAMS, "max_iter": 50}
    assert len(first) == 6
    assert len({tuple(sorted(c.items())) for c in first}) == 6
    assert all(c["max_iter"] == 50 for c in first)
    # Everything pinned: one candidate, however many trials were asked for.
    assert len(modeling.candidate_params(5, seed=4, fixed=dict(features.DEFAULT_PARAMS))) == 1


def test_metrics_against_hand_computed_values() -> None:
    m = modeling.metrics(np.array([10.0, 20.0, 30.0]), np.array([12.0, 18.0, 30.0]))
    assert m["mae"] == pytest.approx(4 / 3)
    assert m["rmse"] == pytest.approx(np.sqrt(8 / 3))
    assert m["r2"] == pytest.approx(1 - 8 / 200)


def test_duckdb_reader_filters_months_and_orders_rows(tmp_path: Path) -> None:
    df = synthetic.fare_features(100, ["2024-12", "2025-01", "2025-02"], seed=8)
    synthetic.write_duckdb(df, tmp_path / "w.duckdb", schema="marts_x")
    cfg = config.load(
        {
            "WAREHOUSE": "duckdb",
            "WAREHOUSE_PATH": str(tmp_path / "w.duckdb"),
            "BQ_DATASET_MARTS": "marts_x",
            "MLFLOW_TRACKING_URI": "http://unused:5000",
        }
    )
    got = data.load_features(cfg, data.MonthRange(date(2025, 1, 1), date(2025, 2, 1)))
    assert len(got) == 200
    assert set(got["pickup_month"].dt.strftime("%Y-%m")) == {"2025-01", "2025-02"}
    assert got["pickup_date"].is_monotonic_increasing
    default_schema = config.load(
        {
            "WAREHOUSE": "duckdb",
            "WAREHOUSE_PATH": str(tmp_path / "w.duckdb"),
            "MLFLOW_TRACKING_URI": "http://unused:5000",
        }
    )
    with pytest.raises(DataError, match=r"marts\.fare_features does not exist"):
        data.load_features(default_schema, data.MonthRange())


def test_bigquery_sql_uses_named_date_parameters() -> None:
    sql, params = data.select_sql(
        "`p.marts.fare_features`", data.MonthRange(date(2025, 1, 1), date(2025, 3, 1)), "@p"
    )
    assert "pickup_month >= @p0 and pickup_month <= @p1" in sql
    assert params == [date(2025, 1, 1), date(2025, 3, 1)]
    assert sql.startswith("select trip_id, pickup_date, pickup_month, pickup_location_id")
    sql_all, none = data.select_sql("t", data.MonthRange(), "?")
    assert " where " not in sql_all
    assert none == []


def test_month_helpers() -> None:
    assert data.add_months(date(2025, 1, 1), -3) == date(2024, 10, 1)
    assert data.add_months(date(2024, 11, 1), 2) == date(2025, 1, 1)
    with pytest.raises(ConfigError, match="--to='2025-1'"):
        data.parse_month("2025-1", "--to")


def test_file_storage_replaces_atomically(tmp_path: Path) -> None:
    uri = storage.join((tmp_path / "docs").as_uri(), "model", "index.html")
    storage.write_text(uri, "<p>one</p>")
    storage.write_text(uri, "<p>two</p>")
    folder = tmp_path / "docs" / "model"
    assert (folder / "index.html").read_text() == "<p>two</p>"
    assert [p.name for p in folder.iterdir()] == ["index.html"]  # no temporary files left
    with pytest.raises(ConfigError, match="unsupported scheme"):
        storage.write_text("s3://bucket/x.html", "x")
    with pytest.raises(ConfigError, match="gs://bucket/path/name"):
        storage.write_text("gs://bucket-only", "x")


def test_max_rows_draws_a_deterministic_sample_in_the_warehouse(tmp_path: Path) -> None:
    """Training from scratch reads a bounded sample, not all history (issue 27, defect 4)."""
    months = ["2024-11", "2024-12", "2025-01", "2025-02"]
    df = synthetic.fare_features(2000, months, seed=9)
    synthetic.write_duckdb(df, tmp_path / "w.duckdb", schema="marts")
    cfg = config.load(
        {
            "WAREHOUSE": "duckdb",
            "WAREHOUSE_PATH": str(tmp_path / "w.duckdb"),
            "MLFLOW_TRACKING_URI": "http://unused:5000",
        }
    )
    whole = data.load_features(cfg, data.MonthRange(), max_rows=10_000)
    assert len(whole) == 8000  # under the bound: everything
    first = data.load_features(cfg, data.MonthRange(), max_rows=2000)
    again = data.load_features(cfg, data.MonthRange(), max_rows=2000)
    assert 1600 <= len(first) <= 2400
    assert first["trip_id"].tolist() == again["trip_id"].tolist()
    per_month = first["pickup_month"].dt.strftime("%Y-%m").value_counts()
    assert set(per_month.index) == set(months)
    assert per_month.min() > 350  # spread over every month, not the first rows
    sql, _ = data.select_sql("`p.d.t`", data.MonthRange(), "@p", keep_buckets=250_000)
    assert "mod(abs(farm_fingerprint(trip_id)), 1000000) < 250000" in sql
