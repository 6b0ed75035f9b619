"""The bigquery target parses offline: profile from pipeline-env, partitioned insert_overwrite
fare_features, contract types in BigQuery spelling, sources in the environment's project."""

from __future__ import annotations

import json

import pytest

from conftest import DBT_DIR, base_env, describe, run_module

pytestmark = pytest.mark.dbt


def test_bigquery_parse(tmp_path):
    env = base_env(tmp_path, tmp_path / "unused.duckdb")
    env.update(
        WAREHOUSE="bigquery",
        GCP_PROJECT="acme-taxi-dev",
        GCP_REGION="europe-west1",
        BQ_DATASET_RAW="taxi_raw_dev",
        BQ_DATASET_MARTS="taxi_marts_dev",
    )
    del env["WAREHOUSE_PATH"]
    # `parse` needs no connection, so this runs without credentials.
    run = run_module("taxi_dbt.runner", ["parse"], env)
    assert run.code == 0, describe(run)
    assert run.summary["target"] == "bigquery"
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    ff = manifest["nodes"]["model.taxi.fare_features"]
    assert ff["config"]["incremental_strategy"] == "insert_overwrite"
    assert ff["config"]["partition_by"] == {
        "field": "pickup_date", "data_type": "date", "granularity": "day"
    }  # fmt: skip
    assert ff["config"]["contract"]["enforced"] is True
    assert ff["columns"]["trip_id"]["data_type"] == "string"
    assert ff["columns"]["fare_amount"]["data_type"] == "float64"
    assert (ff["database"], ff["schema"]) == ("acme-taxi-dev", "taxi_marts_dev")
    src = manifest["sources"]["source.taxi.tlc.trips"]
    assert (src["database"], src["schema"]) == ("acme-taxi-dev", "taxi_raw_dev")
    # No model may need a hub package: nothing from one is referenced.
    assert not (DBT_DIR / "packages.yml").exists()
    assert all(
        not m.startswith(("macro.elementary", "macro.dbt_expectations", "macro.dbt_utils"))
        for n in manifest["nodes"].values()
        for m in n.get("depends_on", {}).get("macros", [])
    )
