"""How the runner turns its options into dbt invocations (no dbt run needed)."""

from __future__ import annotations

import pytest

from taxi_dbt import runner
from taxi_dbt.errors import ConfigError


def plan(argv: list[str], dbt_vars=None):
    return runner.plan(runner.parse_args(argv), dbt_vars)


def test_the_dags_build_call():
    steps = plan(
        ["build", "--select", "fare_features+", "--full-refresh"], {"source_month": "2024-01"}
    )
    assert steps == [
        (
            "build",
            ["build", "--select", "fare_features+", "--full-refresh",
             "--vars", '{"source_month": "2024-01"}'],
        )
    ]  # fmt: skip


def test_deps_seed_and_docs_wrap_the_command():
    steps = plan(["run", "--deps", "--seed", "--docs", "-s", "a", "-s", "b", "--exclude", "c"])
    assert [name for name, _ in steps] == ["deps", "seed", "run", "docs"]
    assert steps[2][1] == ["run", "--select", "a", "--select", "b", "--exclude", "c"]
    assert steps[3][1] == ["docs", "generate", "--static"]


def test_build_loads_seeds_itself():
    assert [name for name, _ in plan(["build", "--seed"])] == ["build"]


def test_extra_arguments_after_double_dash_are_passed_through():
    assert plan(["test", "--", "--threads", "1"]) == [("test", ["test", "--threads", "1"])]
    # also after options (argparse alone refuses this form)
    assert plan(["test", "-s", "a", "--", "--threads", "1", "--", "x"]) == [
        ("test", ["test", "--select", "a", "--threads", "1", "--", "x"])
    ]
    assert plan(["dbt", "--", "ls", "--resource-type", "model"]) == [
        ("dbt ls", ["ls", "--resource-type", "model"])
    ]


def test_docs_command_generates_the_static_page():
    assert plan(["docs"]) == [("docs", ["docs", "generate", "--static"])]


def test_selection_is_refused_where_dbt_would_ignore_it():
    with pytest.raises(ConfigError, match="do not apply to 'docs'"):
        plan(["docs", "--full-refresh"])
    with pytest.raises(ConfigError, match="do not apply to 'docs'"):
        plan(["docs", "--no-unit-tests"])


def test_no_unit_tests_excludes_that_resource_type_from_build_and_test():
    assert plan(["build", "--no-unit-tests"]) == [
        ("build", ["build", "--exclude-resource-type", "unit_test"])
    ]
    assert plan(["test", "--no-unit-tests", "-s", "a"]) == [
        ("test", ["test", "--select", "a", "--exclude-resource-type", "unit_test"])
    ]
    # run and seed have no unit tests to leave out
    assert plan(["run", "--no-unit-tests"]) == [("run", ["run"])]


def test_source_month_goes_to_dbt_as_an_environment_variable():
    """A new month must not change dbt's --vars (that discards the partial parse)."""
    rest, env = runner.run_time_env({"source_month": "2024-01"})
    assert rest is None
    assert env == {"TAXI_SOURCE_MONTH": "2024-01"}
    rest, env = runner.run_time_env({"source_month": "2024-01", "lookback_days": 3})
    assert rest == {"lookback_days": 3}
    assert runner.run_time_env(None) == (None, {"TAXI_SOURCE_MONTH": None})
    assert runner.run_time_env({}) == (None, {"TAXI_SOURCE_MONTH": None})
