"""taxi_common.envconfig: values, defaults and messages that name the key."""

from __future__ import annotations

import pytest

from taxi_common.envconfig import (
    PIPELINE_ENV_SOURCE,
    RUNTIMES,
    WAREHOUSES,
    EnvReader,
    one_of,
)


class ComponentConfigError(Exception):
    """Stands in for a component's own ConfigError."""


def reader(**env: str) -> EnvReader:
    return EnvReader(env, ComponentConfigError)


def test_value_sets():
    assert RUNTIMES == ("kubernetes", "local")
    assert WAREHOUSES == ("bigquery", "duckdb")


def test_get_strips_and_treats_blank_as_unset():
    r = reader(A=" x ", B="  ", C="")
    assert (r.get("A"), r.get("B"), r.get("C"), r.get("D")) == ("x", None, None, None)


def test_defaults_to_the_process_environment(monkeypatch):
    monkeypatch.setenv("TAXI_COMMON_TEST_KEY", "from-os")
    assert EnvReader(None, ComponentConfigError).get("TAXI_COMMON_TEST_KEY") == "from-os"


def test_require_names_key_reason_example_and_source():
    assert reader(K="v").require("K", "always", "v") == "v"
    with pytest.raises(ComponentConfigError) as err:
        reader().require("WAREHOUSE_PATH", "when WAREHOUSE=duckdb", "/tmp/w.duckdb")
    assert str(err.value) == (
        "environment variable WAREHOUSE_PATH is not set; it is required when WAREHOUSE=duckdb. "
        f"Set it, e.g. WAREHOUSE_PATH=/tmp/w.duckdb ({PIPELINE_ENV_SOURCE})."
    )


def test_source_is_configurable():
    with pytest.raises(ComponentConfigError, match=r"\(set by the test\)\.$"):
        EnvReader({}, ComponentConfigError, source="set by the test").require("K", "now", "1")


def test_choice_default_required_and_invalid():
    assert reader().choice("PLATFORM_RUNTIME", RUNTIMES, default="local") == "local"
    assert reader(WAREHOUSE=" duckdb ").choice("WAREHOUSE", WAREHOUSES) == "duckdb"
    with pytest.raises(ComponentConfigError) as err:
        reader().choice("WAREHOUSE", WAREHOUSES, hint=", or pass --target")
    assert str(err.value) == (
        "environment variable WAREHOUSE is not set; expected one of bigquery, duckdb "
        f"({PIPELINE_ENV_SOURCE}), or pass --target."
    )
    with pytest.raises(ComponentConfigError) as err:
        reader(PLATFORM_RUNTIME="yarn").choice("PLATFORM_RUNTIME", RUNTIMES, default="local")
    assert str(err.value) == (
        "environment variable PLATFORM_RUNTIME='yarn' is not valid; "
        "expected one of kubernetes, local."
    )


def test_one_of_names_the_label():
    assert one_of("--target", "duckdb", WAREHOUSES, ComponentConfigError) == "duckdb"
    with pytest.raises(ComponentConfigError, match=r"^--target='x' is not valid; expected one of"):
        one_of("--target", "x", WAREHOUSES, ComponentConfigError)


@pytest.mark.parametrize("name", ["raw", "_tmp", "Marts_2024", "a" * 1024])
def test_dataset_accepts_valid_names(name):
    assert reader(BQ_DATASET_RAW=name).dataset("BQ_DATASET_RAW") == name


@pytest.mark.parametrize("name", ["raw-data", "2024_raw", "my.marts", "a" * 1025])
def test_dataset_rejects_invalid_names(name):
    with pytest.raises(
        ComponentConfigError, match=r"BQ_DATASET_RAW=.* is not a valid dataset name"
    ):
        reader(BQ_DATASET_RAW=name).dataset("BQ_DATASET_RAW", "raw")


def test_dataset_default_and_required():
    assert reader().dataset("BQ_DATASET_MARTS", "marts") == "marts"
    with pytest.raises(ComponentConfigError, match="BQ_DATASET_RAW is not set; it is required to"):
        reader().dataset("BQ_DATASET_RAW", why="to name the raw dataset")
    with pytest.raises(ComponentConfigError, match="invalid-default"):
        reader().dataset("BQ_DATASET_RAW", "invalid-default")  # a bad default fails too
