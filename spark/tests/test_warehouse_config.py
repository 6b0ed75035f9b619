"""Platform config and the BigQuery write options (the BigQuery write itself needs a cloud)."""

from __future__ import annotations

import pytest

from taxi_spark import config
from taxi_spark.errors import ConfigError
from taxi_spark.load import QUARANTINE_SPEC, TRIPS_SPEC
from taxi_spark.warehouse import BigQueryWarehouse, DuckDBWarehouse, bq_label, from_config

BQ_ENV = {
    "PLATFORM_ENV": "dev",
    "PLATFORM_RUNTIME": "kubernetes",
    "WAREHOUSE": "bigquery",
    "GCP_PROJECT": "taxi-dev",
    "BQ_DATASET_RAW": "raw",
    "SPARK_TEMP_BUCKET": "gs://taxi-dev-spark-temp",
}


def test_bigquery_config_and_write_options():
    cfg = config.load(BQ_ENV)
    wh = from_config(cfg)
    assert isinstance(wh, BigQueryWarehouse)
    labels = {
        "app": "taxi-platform",
        "job": "batch",
        "env": "dev",
        "run_id": "scheduled__2023-01-01T00:00:00+00:00",
    }
    opts = wh.options(TRIPS_SPEC, labels)
    assert opts["table"] == "taxi-dev.raw.trips"
    assert opts["temporaryGcsBucket"] == "taxi-dev-spark-temp"
    assert opts["writeMethod"] == "indirect"
    assert (opts["partitionField"], opts["partitionType"]) == ("pickup_date", "DAY")
    assert opts["bigQueryJobLabel.run_id"] == "scheduled__2023-01-01t00_00_00_00_00"
    assert opts["bigQueryJobLabel.job"] == "batch"
    q = wh.options(QUARANTINE_SPEC, labels)
    assert (q["table"], q["partitionField"], q["partitionType"]) == (
        "taxi-dev.raw.trips_quarantine",
        "source_month",
        "MONTH",
    )


def test_bq_labels_are_valid_label_values():
    value = bq_label("Manual Run/ÄÖ " + "x" * 100)
    assert len(value) == 63
    assert set(value) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-")


def test_duckdb_config(tmp_path):
    cfg = config.load(
        {
            "WAREHOUSE": "duckdb",
            "WAREHOUSE_PATH": str(tmp_path / "w.duckdb"),
            "BQ_DATASET_RAW": "raw",
        }
    )
    assert (cfg.runtime, cfg.platform_env) == ("local", "local")
    assert isinstance(from_config(cfg), DuckDBWarehouse)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"WAREHOUSE": "snowflake"}, "WAREHOUSE='snowflake' is not valid"),
        ({"PLATFORM_RUNTIME": "yarn"}, "PLATFORM_RUNTIME='yarn' is not valid"),
        ({"GCP_PROJECT": ""}, "GCP_PROJECT is not set; it is required when WAREHOUSE=bigquery"),
        ({"SPARK_TEMP_BUCKET": "gs://bucket/path"}, "must be a bucket name"),
        ({"BQ_DATASET_RAW": "raw-data"}, "BQ_DATASET_RAW='raw-data' is not a valid dataset name"),
    ],
)
def test_config_errors_name_the_variable(change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config.load({**BQ_ENV, **change})


def test_bigquery_write_refuses_static_overwrite(spark):
    wh = BigQueryWarehouse("p", "raw", "b")
    df = spark.range(1)
    spark.conf.set("spark.sql.sources.partitionOverwriteMode", "static")
    try:
        with pytest.raises(ConfigError, match="would truncate the whole table"):
            wh.overwrite_partitions(df, TRIPS_SPEC, {})
    finally:
        spark.conf.set("spark.sql.sources.partitionOverwriteMode", "dynamic")
