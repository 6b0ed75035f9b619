"""pipeline-env validation: a missing or malformed key fails naming the key (runner exit 2)."""

from __future__ import annotations

import os

import pytest

from conftest import base_env, run_module
from taxi_dbt import config
from taxi_dbt.errors import ConfigError


@pytest.fixture
def warehouse(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(b"")
    return path


def test_duckdb_defaults(warehouse):
    cfg = config.load({"WAREHOUSE": "duckdb", "WAREHOUSE_PATH": f"file://{warehouse}"})
    assert (cfg.warehouse, cfg.runtime, cfg.platform_env) == ("duckdb", "local", "local")
    assert (cfg.dataset_raw, cfg.dataset_marts) == ("raw", "marts")
    env = cfg.dbt_env()
    assert env["BQ_DATASET_MARTS"] == "marts"
    assert env["WAREHOUSE_PATH"] == f"file://{warehouse}"


def test_target_argument_overrides_warehouse(warehouse):
    cfg = config.load({"WAREHOUSE": "bigquery", "WAREHOUSE_PATH": str(warehouse)}, "duckdb")
    assert cfg.warehouse == "duckdb"


def test_bigquery_needs_a_valid_project():
    cfg = config.load({"WAREHOUSE": "bigquery", "GCP_PROJECT": "acme-taxi-dev"})
    assert cfg.gcp_project == "acme-taxi-dev"
    with pytest.raises(ConfigError, match="GCP_PROJECT is not set"):
        config.load({"WAREHOUSE": "bigquery"})
    with pytest.raises(ConfigError, match="GCP_PROJECT='Not_A_Project'"):
        config.load({"WAREHOUSE": "bigquery", "GCP_PROJECT": "Not_A_Project"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "WAREHOUSE is not set"),
        ({"WAREHOUSE": "snowflake"}, "WAREHOUSE='snowflake' is not valid"),
        ({"WAREHOUSE": "duckdb"}, "WAREHOUSE_PATH is not set"),
        ({"WAREHOUSE": "duckdb", "WAREHOUSE_PATH": "rel/w.duckdb"}, "must be an absolute path"),
        ({"WAREHOUSE": "duckdb", "WAREHOUSE_PATH": "/nonexistent/w.duckdb"}, "does not exist"),
        ({"WAREHOUSE": "duckdb", "PLATFORM_RUNTIME": "docker"}, "PLATFORM_RUNTIME='docker'"),
        ({"WAREHOUSE": "bigquery", "GCP_PROJECT": "acme-taxi", "BQ_DATASET_MARTS": "my-marts"},
         "BQ_DATASET_MARTS='my-marts' is not a valid dataset name"),
    ],
)  # fmt: skip
def test_bad_environment_names_the_key(env, message):
    with pytest.raises(ConfigError, match=message):
        config.load(env)


def test_docs_uri_is_required_only_to_publish(warehouse):
    cfg = config.load({"WAREHOUSE": "duckdb", "WAREHOUSE_PATH": str(warehouse)})
    with pytest.raises(ConfigError, match="DOCS_URI is not set"):
        cfg.require_docs_uri()


def test_runner_exits_2_with_a_json_summary_on_bad_environment(tmp_path):
    env = base_env(tmp_path, tmp_path / "missing.duckdb")
    run = run_module("taxi_dbt.runner", ["build"], env)
    assert run.code == 2
    assert run.summary["ok"] is False
    assert "WAREHOUSE_PATH" in run.summary["error"]
    assert "error: " in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["build", "--vars", "{not json"], "--vars is not valid JSON"),
        (["build", "--vars", "[1, 2]"], "--vars must be a JSON object"),
        (["deps", "--select", "x"], "do not apply to 'deps'"),
        (["dbt"], "'dbt' needs a dbt command"),
    ],
)
def test_runner_rejects_bad_arguments_before_running_dbt(tmp_path, warehouse, args, message):
    env = base_env(tmp_path, warehouse)
    run = run_module("taxi_dbt.runner", args, env)
    assert run.code == 2, run.stderr
    assert message in run.summary["error"]


def test_bigquery_location_comes_from_bq_location(monkeypatch):
    """The profile's location is BQ_LOCATION (datasets in the EU multi-region), exported by the
    runner before dbt starts, not the cluster's region (issue 27, defect 7)."""
    import yaml
    from dbt.config.renderer import ProfileRenderer
    from dbt_common.context import set_invocation_context

    from taxi_dbt.config import PROJECT_DIR

    base = {"WAREHOUSE": "bigquery", "GCP_PROJECT": "acme-taxi-prod", "GCP_REGION": "europe-west1"}
    cfg = config.load({**base, "BQ_LOCATION": "EU"})
    monkeypatch.delenv("BQ_LOCATION", raising=False)
    for key, value in cfg.dbt_env().items():
        monkeypatch.setenv(key, value)
    set_invocation_context(os.environ)  # what a dbt invocation does first
    raw = yaml.safe_load((PROJECT_DIR / "profiles.yml").read_text())
    rendered = ProfileRenderer({}).render_data(raw["taxi"]["outputs"]["bigquery"])
    assert rendered["location"] == "EU"
    assert config.load(base).dbt_env()["BQ_LOCATION"] == "europe-west1"
