"""The dbt-duckdb plugin that opens the warehouse read-only for the docs publisher."""

from __future__ import annotations

import pytest

from taxi_dbt import duckdb_access


@pytest.mark.parametrize(("value", "mode"), [(None, None), ("0", None), ("1", "READ_ONLY")])
def test_the_variable_sets_the_access_mode(monkeypatch, value, mode):
    if value is None:
        monkeypatch.delenv(duckdb_access.READ_ONLY_ENV, raising=False)
    else:
        monkeypatch.setenv(duckdb_access.READ_ONLY_ENV, value)
    config: dict = {"threads": 2}
    duckdb_access.Plugin("duckdb_access", {}).update_connection_config(None, config)
    assert config.get("access_mode") == mode
    assert config["threads"] == 2


def test_a_bad_value_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv(duckdb_access.READ_ONLY_ENV, "yes")
    with pytest.raises(ValueError, match="TAXI_DUCKDB_READ_ONLY='yes': use 1"):
        duckdb_access.Plugin("duckdb_access", {}).update_connection_config(None, {})
