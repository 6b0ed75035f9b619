"""The batch and initial_load jobs against a real DuckDB warehouse: idempotent, quarantining."""

from __future__ import annotations

import json

import duckdb
import pytest

from conftest import DRIFT_MONTHS, ROWS, file_uri
from taxi_spark import load, testdata, uris
from taxi_spark.jobs import batch, initial_load
from taxi_spark.warehouse import DuckDBWarehouse


def _counts(path) -> dict:
    con = duckdb.connect(str(path), read_only=True)
    try:
        trips = con.execute(
            "select count(*), count(distinct pickup_date), sum(total_amount), "
            "count(distinct source_file) from raw.trips"
        ).fetchone()
        quarantine = dict(
            con.execute("select reason, count(*) from raw.trips_quarantine group by 1").fetchall()
        )
        outside = con.execute(
            "select count(*) from raw.trips where date_trunc('month', pickup_date) <> source_month"
        ).fetchone()[0]
    finally:
        con.close()
    return {
        "trips": trips[0],
        "dates": trips[1],
        "total": round(trips[2], 2),
        "files": trips[3],
        "quarantine": quarantine,
        "outside_month_in_trips": outside,
    }


def _injected(months) -> dict[str, int]:
    out: dict[str, int] = {}
    for y, m in months:
        gen = testdata.generate_month(y, m, ROWS, seed=7, bad_fraction=0.05)
        for k, v in gen.injected.items():
            out[k] = out.get(k, 0) + v
    return out


def test_batch_twice_leaves_identical_tables(spark, drift_dir, warehouse_env, capsys):
    uri = file_uri(drift_dir / testdata.file_name(2023, 1))
    assert batch.main(["--uri", uri, "--run-id", "manual__2023-01"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    first = _counts(warehouse_env)
    assert batch.main(["--uri", uri]) == 0
    second = _counts(warehouse_env)
    assert first == second
    injected = _injected([(2023, 1)])
    assert first["quarantine"] == injected
    assert first["trips"] == ROWS - sum(injected.values())
    assert first["outside_month_in_trips"] == 0
    assert summary["rows_read"] == ROWS
    assert summary["rows_loaded"] == first["trips"]
    assert summary["quarantine_by_reason"] == injected


def test_initial_load_is_idempotent_and_agrees_with_batch(spark, drift_dir, warehouse_env):
    folder = file_uri(drift_dir)
    assert initial_load.main(["--uri", folder]) == 0
    first = _counts(warehouse_env)
    assert initial_load.main(["--uri", folder]) == 0
    assert _counts(warehouse_env) == first
    # A batch re-load of one month after the full load changes nothing either.
    assert batch.main(["--uri", file_uri(drift_dir / testdata.file_name(2021, 6))]) == 0
    assert _counts(warehouse_env) == first
    injected = _injected(DRIFT_MONTHS)
    assert first["quarantine"] == injected
    assert first["trips"] == ROWS * len(DRIFT_MONTHS) - sum(injected.values())
    assert first["files"] == len(DRIFT_MONTHS)
    assert first["outside_month_in_trips"] == 0


def test_initial_load_month_range(spark, drift_dir, warehouse_env, capsys):
    assert (
        initial_load.main(["--uri", file_uri(drift_dir), "--from", "2023-01", "--to", "2024-12"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["files"] == 3
    assert summary["groups"] == 1
    assert _counts(warehouse_env)["files"] == 3


def test_overwrite_replaces_only_touched_partitions(spark, tmp_path, drift_dir):
    wh = DuckDBWarehouse(str(tmp_path / "w.duckdb"), "raw")
    files = [
        file_uri(drift_dir / testdata.file_name(2019, 2)),
        file_uri(drift_dir / testdata.file_name(2022, 6)),
    ]
    labels = {"job": "test"}
    load.run(spark, files, wh, job="test", labels=labels)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    before = con.execute(
        "select count(*) from raw.trips where year(pickup_date) = 2022"
    ).fetchone()[0]
    con.execute("delete from raw.trips where year(pickup_date) = 2019")  # simulate a lost month
    con.close()
    load.run(spark, files[:1], wh, job="test", labels=labels)  # reload 2019-02 only
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    after_2019, after_2022 = con.execute(
        "select count(*) filter (where year(pickup_date) = 2019), "
        "count(*) filter (where year(pickup_date) = 2022) from raw.trips"
    ).fetchone()
    con.close()
    assert after_2022 == before
    assert after_2019 == ROWS - sum(
        testdata.generate_month(2019, 2, ROWS, seed=7, bad_fraction=0.05).injected.values()
    )


def test_irreconcilable_file_fails_the_job_naming_file_and_column(
    spark, tmp_path, warehouse_env, capsys
):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = testdata.generate_month(2022, 3, 30, seed=1).table
    i = table.schema.get_field_index("PULocationID")
    table = table.set_column(i, "PULocationID", pa.compute.cast(table.column(i), pa.string()))
    path = tmp_path / "landing" / "yellow_tripdata_2022-03.parquet"
    path.parent.mkdir()
    pq.write_table(table, path)
    assert batch.main(["--uri", file_uri(path)]) == 2
    err = capsys.readouterr().err
    assert "yellow_tripdata_2022-03.parquet" in err
    assert "'PULocationID'" in err
    assert not warehouse_env.exists()  # failed before anything was written


def test_clean_file_loads_everything_and_quarantines_nothing(spark, tmp_path, warehouse_env):
    path = tmp_path / "clean" / testdata.file_name(2024, 2)
    testdata.write_table(testdata.generate_month(2024, 2, 300, seed=4).table, file_uri(path))
    assert batch.main(["--uri", file_uri(path)]) == 0
    counts = _counts(warehouse_env)
    assert counts["trips"] == 300
    assert counts["dates"] == 29  # leap year
    assert counts["quarantine"] == {}


def test_corrected_month_replaces_all_it_had_even_an_emptied_quarantine(spark, tmp_path):
    """A month republished without bad rows (a publisher's correction) leaves no quarantine row
    of its first file behind, and no trip of a day the correction no longer has; other months
    keep theirs."""
    wh = DuckDBWarehouse(str(tmp_path / "w.duckdb"), "raw")
    folder = tmp_path / "landing"
    month = folder / testdata.file_name(2023, 1)
    other = folder / testdata.file_name(2023, 2)
    testdata.write_table(
        testdata.generate_month(2023, 1, 400, seed=5, bad_fraction=0.05).table, file_uri(month)
    )
    testdata.write_table(
        testdata.generate_month(2023, 2, 400, seed=6, bad_fraction=0.05).table, file_uri(other)
    )
    load.run(spark, [file_uri(month), file_uri(other)], wh, job="t", labels={})

    def by_month(table: str) -> dict[str, int]:
        con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
        try:
            sql = f"select strftime(source_month, '%Y-%m'), count(*) from raw.{table} group by 1"
            return dict(con.execute(sql).fetchall())
        finally:
            con.close()

    before = by_month("trips_quarantine")
    assert before["2023-01"] > 0
    assert before["2023-02"] > 0
    # The correction: the same month, no bad rows, and without the trips of January 31.
    import pyarrow.compute as pc

    clean = testdata.generate_month(2023, 1, 400, seed=5).table
    day = pc.day(clean.column("tpep_pickup_datetime"))
    clean = clean.filter(pc.not_equal(day, 31))
    testdata.write_table(clean, file_uri(month))
    summary = load.run(spark, [file_uri(month)], wh, job="t", labels={})
    assert summary.rows_quarantined == 0
    assert by_month("trips_quarantine") == {"2023-02": before["2023-02"]}
    assert by_month("trips")["2023-01"] == clean.num_rows
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    try:
        jan31 = con.execute(
            "select count(*) from raw.trips where pickup_date = date '2023-01-31'"
        ).fetchone()[0]
    finally:
        con.close()
    assert jan31 == 0


def test_batch_rejects_a_folder(warehouse_env, drift_dir, capsys):
    assert batch.main(["--uri", file_uri(drift_dir)]) == 2
    assert "initial_load" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        ("WAREHOUSE_PATH", "WAREHOUSE_PATH is not set; it is required when WAREHOUSE=duckdb"),
        ("BQ_DATASET_RAW", "BQ_DATASET_RAW is not set"),
        ("WAREHOUSE", "WAREHOUSE is not set; expected one of bigquery, duckdb"),
    ],
)
@pytest.mark.usefixtures("warehouse_env")
def test_missing_env_is_named(drift_dir, monkeypatch, capsys, unset, message):
    monkeypatch.delenv(unset)
    uri = file_uri(drift_dir / testdata.file_name(2023, 1))
    assert batch.main(["--uri", uri]) == 2
    assert message in capsys.readouterr().err


def test_bad_month_argument_is_named(warehouse_env, drift_dir, capsys):
    assert initial_load.main(["--uri", file_uri(drift_dir), "--from", "2023-1"]) == 2
    assert "--from='2023-1' is not a month" in capsys.readouterr().err


def test_list_parquet_finds_every_month(drift_dir):
    assert len(uris.list_parquet(file_uri(drift_dir))) == len(DRIFT_MONTHS)
