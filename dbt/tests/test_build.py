"""`dbt build` on DuckDB over generated raw trips: every model, seed, data test and unit test
passes, the marts match an independent Python calculation, and re-runs are idempotent."""

from __future__ import annotations

import hashlib
import shutil
from contextlib import closing
from datetime import date

import duckdb
import pytest

import tripgen
from conftest import Built, describe, run_module

pytestmark = pytest.mark.dbt

# The fare_features contract shared with ml/ (docs/architecture.md#storage-and-warehouse), in
# table order.
FARE_FEATURES = [
    ("trip_id", "VARCHAR"),
    ("pickup_date", "DATE"),
    ("pickup_month", "DATE"),
    ("pickup_hour", "INTEGER"),
    ("pickup_day_of_week", "INTEGER"),
    ("is_weekend", "BOOLEAN"),
    ("pickup_location_id", "INTEGER"),
    ("dropoff_location_id", "INTEGER"),
    ("pickup_borough", "VARCHAR"),
    ("dropoff_borough", "VARCHAR"),
    ("is_airport_trip", "BOOLEAN"),
    ("trip_distance", "DOUBLE"),
    ("passenger_count", "INTEGER"),
    ("ratecode_id", "INTEGER"),
    ("vendor_id", "INTEGER"),
    ("fare_amount", "DOUBLE"),
]


def query(built: Built, sql: str) -> list[tuple]:
    # Closed at once: an open connection would lock the file against the next dbt run.
    with closing(duckdb.connect(str(built.warehouse), read_only=True)) as con:
        return con.execute(sql).fetchall()


def fingerprint(built: Built) -> dict[str, list[tuple]]:
    """Row counts and content checksums of every table dbt builds."""
    return {
        "fare_features": query(
            built,
            "select count(*), count(distinct trip_id), round(sum(fare_amount), 2), "
            "round(sum(trip_distance), 2), sum(pickup_hour) from marts.fare_features",
        ),
        "report": query(
            built,
            "select count(*), sum(trips), round(sum(revenue), 2), "
            "round(sum(coalesce(trips_mom_change, 0)), 6) from marts.borough_monthly_report",
        ),
    }


def test_first_build_passes_every_node(built: Built):
    run = built.first
    assert run.code == 0, describe(run)
    s = run.summary
    assert s["ok"] is True
    assert s["target"] == "duckdb"
    assert s["models"] == {"success": 4}
    assert s["seeds"] == {"success": 3}
    assert s["unit_tests"] == {"pass": 5}
    assert set(s["tests"]) == {"pass"}, s["tests"]
    assert s["tests"]["pass"] >= 50
    assert s["failures"] == []


def test_dbt_log_lines_are_json(built: Built):
    import json

    lines = [ln for ln in built.first.stdout.splitlines() if ln.strip()]
    assert len(lines) > 20
    events = [json.loads(ln) for ln in lines]  # raises if any line is not JSON
    assert any(e.get("info", {}).get("name") == "MainReportVersion" for e in events[:-1])


def test_staging_deduplicates_on_the_natural_key(built: Built):
    assert built.first.code == 0, describe(built.first)
    ref = built.reference
    assert len(built.rows) > ref.distinct_trips  # the generator did deliver duplicates
    [(rows, distinct)] = query(
        built, "select count(*), count(distinct trip_id) from marts.stg_tlc__trips"
    )
    assert rows == distinct == ref.distinct_trips


def test_trip_id_is_the_documented_hash_of_the_natural_key(built: Built):
    """md5 of 'vendor|pickup|dropoff|PU|DO|distance*100|fare*100|total*100' (no engine quirks)."""

    def key(t: dict) -> str:
        parts = [
            t["VendorID"], t["tpep_pickup_datetime"].strftime("%Y-%m-%d %H:%M:%S"),
            t["tpep_dropoff_datetime"].strftime("%Y-%m-%d %H:%M:%S"), t["PULocationID"],
            t["DOLocationID"], round(t["trip_distance"] * 100), round(t["fare_amount"] * 100),
            round(t["total_amount"] * 100),
        ]  # fmt: skip
        text = "|".join("" if p is None else str(p) for p in parts)
        return hashlib.md5(text.encode()).hexdigest()

    expected = {key(t) for t in tripgen.deduplicated(built.rows)}
    actual = {r[0] for r in query(built, "select trip_id from marts.stg_tlc__trips")}
    assert actual == expected


def test_fare_features_has_exactly_the_valid_trips(built: Built):
    assert built.first.code == 0, describe(built.first)
    ref = built.reference
    assert 0 < ref.valid_trips < ref.distinct_trips  # some rows must be filtered out
    by_date = dict(query(built, "select pickup_date, count(*) from marts.fare_features group by 1"))
    assert by_date == ref.valid_by_date
    [(n, lo_fare, hi_fare, lo_pax, hi_pax)] = query(
        built,
        "select count(*), min(fare_amount), max(fare_amount), min(passenger_count), "
        "max(passenger_count) from marts.fare_features",
    )
    assert n == ref.valid_trips
    assert lo_fare >= 2.5
    assert hi_fare <= 500
    assert lo_pax >= 1
    assert hi_pax <= 6


def test_fare_features_matches_the_contract_with_ml(built: Built):
    cols = query(
        built,
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' and table_name = 'fare_features' order by ordinal_position",
    )
    assert cols == FARE_FEATURES
    [(nulls,)] = query(
        built,
        "select count(*) from marts.fare_features where " + " or ".join(
            f"{c} is null" for c, _ in FARE_FEATURES if c not in ("ratecode_id", "vendor_id")
        ),
    )  # fmt: skip
    assert nulls == 0


def test_feature_values_agree_with_their_definitions(built: Built):
    bad = query(
        built,
        """
        select f.trip_id
        from marts.fare_features f
        join marts.stg_tlc__trips s using (trip_id)
        where f.pickup_hour != hour(s.pickup_datetime)
           or f.pickup_day_of_week != isodow(s.pickup_datetime)
           or f.is_weekend != (isodow(s.pickup_datetime) in (6, 7))
           or f.pickup_month != date_trunc('month', s.pickup_date)
           or f.passenger_count != coalesce(s.passenger_count, 1)
           or f.is_airport_trip != (
                s.pickup_location_id in (1, 132, 138) or s.dropoff_location_id in (1, 132, 138)
                or coalesce(s.ratecode_id in (2, 3), false))
        """,
    )
    assert bad == []
    boroughs = set(query(built, "select distinct pickup_location_id, pickup_borough "
                                "from marts.fare_features"))  # fmt: skip
    assert boroughs == {(z, tripgen.BOROUGHS[z]) for z, _ in boroughs}


def test_borough_report_matches_a_python_aggregation(built: Built):
    ref = built.reference
    rows = query(
        built,
        "select pickup_month, borough, trips, revenue, prev_trips, trips_mom_change "
        "from marts.borough_monthly_report",
    )
    months = {m for m, _ in ref.monthly}
    boroughs = {b for _, b in ref.monthly}
    assert len(rows) == len(months) * len(boroughs)  # zero-filled spine
    table = {(m, b): (t, r, p, c) for m, b, t, r, p, c in rows}
    for key, (trips, revenue) in ref.monthly.items():
        assert table[key][0] == trips, key
        assert table[key][1] == pytest.approx(revenue, abs=0.01), key
    for (month, borough), (trips, _, prev, change) in table.items():
        if (month, borough) not in ref.monthly:
            assert trips == 0
        if prev:
            assert change == pytest.approx(trips / prev - 1)
    # 2024-02 follows 2024-01 in the data, so it has a previous month; 2018-12 does not.
    prev_of = {
        month: [p for (m, _), (_, _, p, _) in table.items() if m == month] for month in months
    }
    assert all(p is not None for p in prev_of[date(2024, 2, 1)])
    assert all(p is None for p in prev_of[date(2018, 12, 1)])


def test_rebuilds_are_idempotent(built: Built):
    """The DAG's incremental call, the default window and a full refresh give the same tables."""
    assert built.first.code == 0, describe(built.first)
    before = fingerprint(built)
    runs = [
        run_module("taxi_dbt.runner", ["build", "--vars", '{"source_month": "2024-01"}'],
                   built.env),
        run_module("taxi_dbt.runner", ["run", "--select", "fare_features"], built.env),
        run_module("taxi_dbt.runner", ["run", "--select", "marts", "--full-refresh"], built.env),
    ]  # fmt: skip
    for run in runs:
        assert run.code == 0, describe(run)
        assert fingerprint(built) == before
    assert runs[0].summary["models"] == {"success": 4}
    assert runs[2].summary["models"] == {"success": 2}


def test_a_new_month_keeps_dbts_partial_parse(built: Built):
    """The DAG's call for one month, then for another: the second reuses dbt's partial parse
    (--vars unchanged; the month reaches the macro through TAXI_SOURCE_MONTH) and the macro
    sees the new month when models run."""
    first = run_module(
        "taxi_dbt.runner", ["build", "--vars", '{"source_month": "2024-01"}'], built.env
    )
    assert first.code == 0, describe(first)
    second = run_module(
        "taxi_dbt.runner", ["build", "--vars", '{"source_month": "1999-01"}'], built.env
    )
    assert second.code == 0, describe(second)
    assert "Unable to do partial parsing" not in second.stdout
    assert "source_month=1999-01: no raw rows for that month" in second.stdout


def with_unknown_zone_trip(built: Built, tmp_path, pickup: str) -> dict[str, str]:
    """The environment of a copy of the built warehouse with one raw trip of January's file in
    zone 300, which the zone seed does not know (its relationships test fails)."""
    assert built.first.code == 0, describe(built.first)
    # Same file name: DuckDB names the catalog after the file and the views refer to it.
    warehouse = tmp_path / built.warehouse.name
    shutil.copy(built.warehouse, warehouse)
    with closing(duckdb.connect(str(warehouse))) as con:
        con.execute(
            """insert into raw.trips (VendorID, tpep_pickup_datetime, tpep_dropoff_datetime,
                   PULocationID, DOLocationID, fare_amount, total_amount, trip_distance,
                   pickup_date, source_file, source_month)
               values (1, cast(? as timestamp), cast(? as timestamp) + interval 20 minute,
                   300, 161, 20.0, 25.0, 3.0, cast(cast(? as timestamp) as date), 'x.parquet',
                   date '2024-01-01')""",
            [pickup, pickup, pickup],
        )
    return dict(built.env, WAREHOUSE_PATH=str(warehouse))


def test_a_failing_data_test_fails_the_run(built: Built, tmp_path):
    """A trip in a zone the seed does not know breaks the relationships test: exit 1."""
    env = with_unknown_zone_trip(built, tmp_path, "2024-01-10 10:00:00")
    run = run_module("taxi_dbt.runner", ["test", "--select", "stg_tlc__trips"], env)
    assert run.code == 1, describe(run)
    assert run.summary["ok"] is False
    assert run.summary["tests"].get("fail") == 1
    [failure] = run.summary["failures"]
    assert "relationships_stg_tlc__trips_pickup_location_id" in failure["node"]
    assert failure["status"] == "fail"


def test_a_months_run_tests_the_trip_views_on_that_months_dates(built: Built, tmp_path):
    """The DAG's build for a month runs the trip views' data tests on that month's pickup dates
    (macros/test_window.sql), not on every month loaded so far: a bad trip of January fails
    January's run and a run without a month, not February's."""
    env = with_unknown_zone_trip(built, tmp_path, "2024-01-31 23:00:00")

    def data_tests(*extra: str):
        run = run_module(
            "taxi_dbt.runner", ["test", "--no-unit-tests", "-s", "stg_tlc__trips", *extra], env
        )
        assert run.code in (0, 1), describe(run)
        return run

    february = data_tests("--vars", '{"source_month": "2024-02"}')
    assert february.code == 0, describe(february)
    assert february.summary["unit_tests"] == {}
    compiled = (
        built.tmp / "target" / "run" / "taxi" / "models" / "staging" / "tlc" / "_tlc__models.yml"
    )
    unique = next(compiled.rglob("unique_stg_tlc__trips_trip_id.sql")).read_text()
    assert "pickup_date >= cast('2024-02-01' as date)" in unique, unique
    assert "pickup_date < cast('2024-03-01' as date)" in unique, unique

    for extra in (
        ("--vars", '{"source_month": "2024-01"}'),
        ("--vars", '{"pickup_date_from": "2024-01-31"}'),
        (),
    ):
        run = data_tests(*extra)
        assert run.code == 1, (extra, describe(run))
        assert run.summary["tests"].get("fail") == 1, extra

    bad = data_tests("--vars", '{"source_month": "2024-13"}')
    assert bad.code != 0
    assert "is not a month" in bad.stdout + bad.stderr


def test_the_incremental_delete_is_a_semi_join_not_a_join(built: Built):
    """The DAG's call for a month deletes the window's dates with `pickup_date in (select …)`.
    A `delete … using <new rows> where new.pickup_date = old.pickup_date` pairs every old row
    of a date with every new row of that date: 4.2 s instead of 6 ms at 100k rows a month, and
    rows squared beyond (dbt-duckdb writes that form for a list unique_key)."""
    run = run_module(
        "taxi_dbt.runner", ["build", "--vars", '{"source_month": "2024-01"}'], built.env
    )
    assert run.code == 0, describe(run)
    executed = (
        built.tmp / "target" / "run" / "taxi" / "models" / "marts" / "ml" / "fare_features.sql"
    ).read_text()
    delete = " ".join(executed.split("delete from", 1)[1].split(";", 1)[0].split()).lower()
    assert " using " not in delete, delete
    assert "where ( pickup_date) in ( select (pickup_date)" in delete, delete
