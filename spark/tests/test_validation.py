"""Great Expectations 1.x on Spark: passes on clean data, fails on injected bad rows."""

from __future__ import annotations

import json

import pytest

from conftest import file_uri
from taxi_spark import testdata, validation
from taxi_spark.errors import ConfigError
from taxi_spark.jobs import validate


@pytest.fixture(scope="module")
def landing(tmp_path_factory):
    root = tmp_path_factory.mktemp("validation")
    clean = root / "clean" / testdata.file_name(2023, 3)
    bad = root / "bad" / testdata.file_name(2023, 3)
    testdata.write_table(testdata.generate_month(2023, 3, 4_000, seed=21).table, file_uri(clean))
    testdata.write_table(
        testdata.generate_month(2023, 3, 4_000, seed=21, bad_fraction=0.05).table, file_uri(bad)
    )
    return clean, bad


@pytest.fixture
def validate_env(monkeypatch, tmp_path):
    for key in ("VALIDATION_THRESHOLD_PCT", "VALIDATION_MIN_ROWS", "VALIDATION_MAX_FARE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PLATFORM_RUNTIME", "local")
    monkeypatch.setenv("DOCS_URI", file_uri(tmp_path / "docs"))
    return tmp_path / "docs"


def _summary(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_clean_file_passes_and_docs_are_published(
    spark, landing, validate_env, capsys, monkeypatch
):
    clean, _ = landing
    workdir = validate_env.parent / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    assert validate.main(["--uri", file_uri(clean)]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    # The GX context is ephemeral: no project folder appears in the working directory.
    assert list(workdir.iterdir()) == []
    # Each phase's time is logged, so fixed and per-row costs can be told apart.
    finished = [
        json.loads(line)
        for line in captured.err.splitlines()
        if line.startswith("{") and '"validation_finished"' in line
    ]
    assert set(finished[-1]["timings"]) == {"gx_import", "context", "count", "checks", "publish"}
    assert all(v >= 0 for v in finished[-1]["timings"].values())
    assert summary["passed"] is True
    assert summary["success_percent"] == 100.0
    assert summary["rows"] == 4_000
    assert summary["threshold_pct"] == 90.0
    index = validate_env / "data-docs" / "yellow_tripdata_2023-03" / "index.html"
    assert index.is_file()
    assert summary["docs"] == file_uri(index)
    assert "trips" in index.read_text()


def test_file_with_bad_rows_fails_below_threshold(spark, landing, validate_env, capsys):
    _, bad = landing
    assert validate.main(["--uri", file_uri(bad)]) == 1
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["passed"] is False
    assert summary["success_percent"] < 90
    failed = {(f["expectation"], f["kwargs"].get("column")) for f in summary["failed_expectations"]}
    assert ("expect_column_values_to_be_between", "fare_amount") in failed
    assert ("expect_column_values_to_be_between", "trip_distance") in failed
    assert ("expect_column_pair_values_a_to_be_greater_than_b", None) in failed
    assert "below the threshold of 90.0%" in captured.err
    assert (validate_env / "data-docs" / "yellow_tripdata_2023-03" / "index.html").is_file()


def test_threshold_comes_from_config(spark, landing, validate_env, monkeypatch, capsys):
    _, bad = landing
    monkeypatch.setenv("VALIDATION_THRESHOLD_PCT", "50")
    assert validate.main(["--uri", file_uri(bad), "--docs-uri", "none"]) == 0
    summary = _summary(capsys)
    assert summary["threshold_pct"] == 50.0
    assert summary["passed"] is True
    assert 50 <= summary["success_percent"] < 90
    assert summary["docs"] is None


def test_missing_docs_destination_is_named(landing, validate_env, monkeypatch, capsys):
    clean, _ = landing
    monkeypatch.delenv("DOCS_URI")
    assert validate.main(["--uri", file_uri(clean)]) == 2
    assert "DOCS_URI" in capsys.readouterr().err


def test_substitution_uses_env_defaults_and_names_missing_variables():
    env = {"A": "1"}
    assert validation.substitute("x: ${A}\ny: ${B:-2}", env, "f.yaml") == "x: 1\ny: 2"
    with pytest.raises(ConfigError, match=r"f\.yaml:2 uses \$\{C\}.*C is not set"):
        validation.substitute("x: 1\ny: ${C}", env, "f.yaml")


def test_suite_file_errors(tmp_path):
    bad_type = tmp_path / "s.yaml"
    bad_type.write_text("threshold_pct: 80\nexpectations:\n  - expectation: expect_nonsense\n")
    spec = validation.load_suite(bad_type, env={})
    with pytest.raises(ConfigError, match=r"expectations\[0\].*expect_nonsense"):
        validation._expectation(spec.expectations[0], 0, spec.source)
    bad_threshold = tmp_path / "t.yaml"
    bad_threshold.write_text("threshold_pct: ${T:-lots}\nexpectations: []\n")
    with pytest.raises(ConfigError, match="threshold_pct='lots' is not a number"):
        validation.load_suite(bad_threshold, env={})


def test_preload_imports_great_expectations_once_in_the_background():
    validation.preload()
    first = validation._preload
    validation.preload()
    assert validation._preload is first, "one background import per process"
    assert first is not None
    first.join(timeout=120)
    assert not first.is_alive()
    import sys

    assert "great_expectations" in sys.modules


def test_packaged_suite_loads_with_defaults():
    spec = validation.load_suite(validation.DEFAULT_EXPECTATIONS, env={})
    assert spec.threshold_pct == 90.0
    assert len(spec.expectations) == 13
    for i, entry in enumerate(spec.expectations):
        validation._expectation(entry, i, spec.source)  # every entry builds a GX expectation
