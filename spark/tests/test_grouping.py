"""Schema grouping from footers: correct groups on drifted files, and footers only."""

from __future__ import annotations

import datetime as dt
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import DRIFT_MONTHS, EXPECTED_GROUPS, ROWS, file_uri
from taxi_spark import grouping, schema, testdata, uris
from taxi_spark.errors import SchemaError, UriError


def _months(group: grouping.SchemaGroup) -> list[str]:
    return [f.rsplit("_", 1)[-1].removesuffix(".parquet") for f in group.files]


def test_drifted_files_group_by_schema(drift_dir):
    files = uris.list_parquet(file_uri(drift_dir))
    assert len(files) == len(DRIFT_MONTHS)
    groups = grouping.group_files(files, workers=4)
    assert [_months(g) for g in groups] == EXPECTED_GROUPS
    assert [g.num_rows for g in groups] == [ROWS * len(m) for m in EXPECTED_GROUPS]
    assert len({g.key for g in groups}) == len(groups)
    null_cols = [c.name for g in groups for c in g.columns if c.is_null]
    assert null_cols == ["congestion_surcharge"]  # the 2019-01 group only


def test_grouping_is_order_insensitive(drift_dir):
    files = uris.list_parquet(file_uri(drift_dir))
    forward = grouping.group_files(files, workers=1)
    backward = grouping.group_files(list(reversed(files)), workers=3)
    assert {g.key: sorted(g.files) for g in forward} == {g.key: sorted(g.files) for g in backward}


class CountingFile:
    """A local file that records every byte range read from it."""

    def __init__(self, path: str, reads: list[tuple[int, int]]) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._size = os.path.getsize(path)
        self.reads = reads

    def size(self) -> int:
        return self._size

    def read_at(self, nbytes: int, offset: int) -> bytes:
        self.reads.append((offset, nbytes))
        self._fh.seek(offset)
        return self._fh.read(nbytes)

    def close(self) -> None:
        self._fh.close()


def test_only_footer_bytes_are_read(tmp_path):
    path = tmp_path / "yellow_tripdata_2023-04.parquet"
    # Several row groups and a few hundred KB of data pages before the footer.
    testdata.write_table(
        testdata.generate_month(2023, 4, 30_000, seed=2).table, file_uri(path), row_group_size=5_000
    )
    size = path.stat().st_size
    md = pq.read_metadata(path)
    data_end = max(
        md.row_group(r).column(c).file_offset + md.row_group(r).column(c).total_compressed_size
        for r in range(md.num_row_groups)
        for c in range(md.num_columns)
    )
    reads: list[tuple[int, int]] = []
    footer = grouping.read_footer(file_uri(path), opener=lambda u: CountingFile(str(path), reads))
    assert footer.num_rows == 30_000
    assert footer.num_row_groups == 6
    assert sum(n for _, n in reads) == footer.footer_bytes + 8
    assert all(offset >= data_end for offset, _ in reads)  # never a data page
    assert sum(n for _, n in reads) < size / 20


def test_footer_types_match_what_spark_infers(spark, drift_dir):
    """The footer mapping must agree with Spark's own schema inference, group by group."""
    groups = grouping.group_files(uris.list_parquet(file_uri(drift_dir)))
    for g in groups:
        inferred = spark.read.parquet(uris.to_spark_path(uris.parse(g.files[0]))).schema
        assert {f.name: f.dataType.simpleString() for f in inferred} == {
            c.name: c.spark_type for c in g.columns
        }, g.files[0]


def test_one_spark_read_per_group_reads_every_row(spark, drift_dir):
    groups = grouping.group_files(uris.list_parquet(file_uri(drift_dir)))
    for g in groups:
        df = grouping.read_group(spark, g)
        assert df.count() == g.num_rows


def test_nanosecond_timestamps_are_rejected_with_file_and_column(tmp_path):
    path = tmp_path / "ns.parquet"
    table = pa.table(
        {"tpep_pickup_datetime": pa.array([dt.datetime(2023, 1, 1)], pa.timestamp("ns"))}
    )
    pq.write_table(table, path, coerce_timestamps=None, version="2.6")
    with pytest.raises(SchemaError, match=r"ns\.parquet.*nanosecond") as err:
        grouping.read_footer(file_uri(path))
    assert err.value.column == "tpep_pickup_datetime"


def test_nested_columns_are_rejected(tmp_path):
    path = tmp_path / "nested.parquet"
    pq.write_table(pa.table({"s": pa.array([{"a": 1}])}), path)
    with pytest.raises(SchemaError, match=r"'s'.*nested"):
        grouping.read_footer(file_uri(path))


def test_not_parquet_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.parquet"
    path.write_text("this is not parquet at all, just text that is long enough")
    with pytest.raises(SchemaError, match="not a readable Parquet file"):
        grouping.read_footer(file_uri(path))


def test_listing_errors_name_the_argument(tmp_path):
    with pytest.raises(UriError, match=r"--uri.*does not exist"):
        uris.list_parquet(file_uri(tmp_path / "missing"))
    with pytest.raises(UriError, match=r"no \*\.parquet files"):
        uris.list_parquet(file_uri(tmp_path))
    with pytest.raises(UriError, match="unsupported scheme 'http'"):
        uris.parse("http://example.invalid/x.parquet")
    with pytest.raises(UriError, match="three slashes"):
        uris.parse("file://tmp/x.parquet")


def test_uri_round_trips_and_spark_paths():
    loc = uris.parse("gs://bucket/trip data/yellow_tripdata_2023-01.parquet")
    assert (loc.scheme, loc.path, loc.name) == (
        "gs",
        "bucket/trip data/yellow_tripdata_2023-01.parquet",
        "yellow_tripdata_2023-01.parquet",
    )
    assert uris.to_spark_path(uris.parse("s3://b/k.parquet")) == "s3a://b/k.parquet"
    assert uris.to_spark_path(uris.parse("/tmp/x.parquet")) == "file:///tmp/x.parquet"
    assert schema.month_from_name("s3://b/trip data/yellow_tripdata_2009-07.parquet") == (2009, 7)
    assert schema.month_from_name("gs://b/2023-01/trips.parquet") is None
