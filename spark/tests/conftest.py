"""Shared fixtures: one local SparkSession for the whole run, and drifted TLC-shaped files.

Everything is written below pytest's tmp_path; nothing touches the network.
"""

from __future__ import annotations

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

from pathlib import Path

import pytest

from taxi_spark import session, testdata

# Months chosen to cover every kind of drift the generator produces (see testdata.month_schema).
DRIFT_MONTHS = [
    (2018, 12),  # no congestion_surcharge, no airport fee
    (2019, 1),  # congestion_surcharge present but all-null (Parquet Null type)
    (2019, 2),  # congestion_surcharge double, integers int64
    (2021, 6),  # passenger_count / RatecodeID double, airport_fee appears
    (2022, 6),  # same schema as 2021-06
    (2023, 1),  # int32 ids, passenger_count int64 again, Airport_fee capitalised
    (2023, 2),  # same schema as 2023-01
    (2024, 3),  # store_and_fwd_flag large_string: Spark still reads string -> 2023 group
    (2025, 1),  # cbd_congestion_fee appears
]
EXPECTED_GROUPS = [
    ["2018-12"],
    ["2019-01"],
    ["2019-02"],
    ["2021-06", "2022-06"],
    ["2023-01", "2023-02", "2024-03"],
    ["2025-01"],
]
ROWS = 400


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("spark")
    spark = session.build(
        "taxi-spark-tests",
        "local",
        extra={
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.sql.warehouse.dir": str(tmp / "spark-warehouse"),
            "spark.driver.memory": "1g",
        },
    )
    yield spark
    spark.stop()


@pytest.fixture(scope="session")
def drift_dir(tmp_path_factory) -> Path:
    """Files for DRIFT_MONTHS under a folder with a space, like the TLC bucket's 'trip data/'."""
    root = tmp_path_factory.mktemp("landing") / "trip data"
    testdata.write_months("file://" + str(root), DRIFT_MONTHS, ROWS, seed=7, bad_fraction=0.05)
    return root


@pytest.fixture
def warehouse_env(monkeypatch, tmp_path) -> Path:
    """A fresh DuckDB warehouse configured through the pipeline-env variables."""
    path = tmp_path / "wh" / "warehouse.duckdb"
    for key in ("GCP_PROJECT", "SPARK_TEMP_BUCKET", "DOCS_URI"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PLATFORM_ENV", "test")
    monkeypatch.setenv("PLATFORM_RUNTIME", "local")
    monkeypatch.setenv("WAREHOUSE", "duckdb")
    monkeypatch.setenv("WAREHOUSE_PATH", str(path))
    monkeypatch.setenv("BQ_DATASET_RAW", "raw")
    return path


def file_uri(path: Path) -> str:
    return "file://" + str(path)
