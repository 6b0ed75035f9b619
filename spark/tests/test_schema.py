"""Canonical casting: every drifted group lands in one schema; irreconcilable files fail clearly."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from conftest import file_uri
from taxi_spark import grouping, load, schema, testdata, uris
from taxi_spark.errors import SchemaError


def test_every_group_is_cast_to_the_canonical_schema(spark, drift_dir):
    df, groups = load.canonical_frame(spark, uris.list_parquet(file_uri(drift_dir)))
    assert len(groups) == 6
    assert {f.name: f.dataType.simpleString() for f in df.schema} == schema.trips_types()
    assert list(df.columns) == list(schema.TRIPS_COLUMNS)
    assert df.count() == sum(g.num_rows for g in groups)


def test_values_survive_the_casts(spark, drift_dir):
    df, _ = load.canonical_frame(spark, uris.list_parquet(file_uri(drift_dir)))
    by_month = {
        r["m"]: r
        for r in df.groupBy(F.date_format("source_month", "yyyy-MM").alias("m"))
        .agg(
            F.sum("passenger_count").alias("pax"),
            F.sum("airport_fee").alias("airport"),
            F.count("congestion_surcharge").alias("congestion_non_null"),
            F.count("cbd_congestion_fee").alias("cbd_non_null"),
            F.countDistinct("source_file").alias("files"),
        )
        .collect()
    }
    for year, month in [(2021, 6), (2023, 1), (2019, 2)]:
        src = pq.read_table(drift_dir / testdata.file_name(year, month))
        row = by_month[f"{year}-{month:02d}"]
        assert row["pax"] == int(pa.compute.sum(src.column("passenger_count")).as_py())
        assert row["files"] == 1
    src_2023 = pq.read_table(drift_dir / testdata.file_name(2023, 1))
    assert by_month["2023-01"]["airport"] == pytest.approx(
        pa.compute.sum(src_2023.column("Airport_fee")).as_py()
    )  # renamed, not dropped
    assert by_month["2019-01"]["congestion_non_null"] == 0  # all-null column
    assert by_month["2018-12"]["congestion_non_null"] == 0  # absent column
    assert by_month["2019-02"]["congestion_non_null"] > 0
    assert by_month["2023-01"]["cbd_non_null"] == 0
    assert by_month["2025-01"]["cbd_non_null"] > 0


def test_source_file_is_the_uri_as_given(spark, drift_dir):
    df, _ = load.canonical_frame(spark, [file_uri(drift_dir / testdata.file_name(2023, 2))])
    (row,) = df.select("source_file").distinct().collect()
    assert row[0] == file_uri(drift_dir / testdata.file_name(2023, 2))  # 'trip data', not %20


def test_plan_notes_describe_the_conversions(drift_dir):
    groups = grouping.group_files(uris.list_parquet(file_uri(drift_dir)))
    notes = {
        g.files[0].rsplit("_", 1)[-1][:7]: {
            c.target.name: c.note for c in grouping.plan_group(g).columns
        }
        for g in groups
    }
    assert notes["2021-06"]["passenger_count"] == "cast double->bigint"
    assert notes["2023-01"]["airport_fee"] == "renamed Airport_fee"
    assert notes["2019-01"]["congestion_surcharge"] == "all-null column"
    assert notes["2018-12"]["congestion_surcharge"] == "absent in file"
    assert notes["2023-01"]["VendorID"] == "same"


def _write_variant(tmp_path, name: str, mutate) -> str:
    table = testdata.generate_month(2023, 1, 20, seed=1).table
    path = tmp_path / name
    pq.write_table(mutate(table), path)
    return file_uri(path)


def test_string_fare_cannot_be_reconciled_and_names_file_and_column(tmp_path):
    def fare_as_string(t: pa.Table) -> pa.Table:
        i = t.schema.get_field_index("fare_amount")
        return t.set_column(i, "fare_amount", pa.compute.cast(t.column(i), pa.string()))

    uri = _write_variant(tmp_path, "yellow_tripdata_2023-01.parquet", fare_as_string)
    (group,) = grouping.group_files([uri])
    with pytest.raises(SchemaError) as err:
        grouping.plan_group(group)
    message = str(err.value)
    assert "yellow_tripdata_2023-01.parquet" in message
    assert "'fare_amount'" in message
    assert "string" in message
    assert err.value.column == "fare_amount"


def test_missing_required_column_names_file_and_column(tmp_path):
    uri = _write_variant(tmp_path, "no_pickup.parquet", lambda t: t.drop(["tpep_pickup_datetime"]))
    with pytest.raises(SchemaError, match=r"no_pickup\.parquet.*'tpep_pickup_datetime'"):
        grouping.plan_group(grouping.group_files([uri])[0])


def test_both_spellings_of_airport_fee_is_ambiguous(tmp_path):
    def both(t: pa.Table) -> pa.Table:
        return t.append_column("airport_fee", t.column("Airport_fee"))

    uri = _write_variant(tmp_path, "both.parquet", both)
    with pytest.raises(SchemaError, match=r"2 columns that map to canonical column 'airport_fee'"):
        grouping.plan_group(grouping.group_files([uri])[0])


def test_unknown_extra_columns_are_ignored_and_reported(tmp_path):
    uri = _write_variant(
        tmp_path,
        "extra.parquet",
        lambda t: t.append_column("__index_level_0__", pa.array(range(20))),
    )
    plan = grouping.plan_group(grouping.group_files([uri])[0])
    assert plan.ignored == ("__index_level_0__",)
