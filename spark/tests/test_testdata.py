"""The test data generator: deterministic, TLC-shaped, drifting, with countable bad rows."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from taxi_spark import testdata
from taxi_spark.errors import ConfigError


def test_same_seed_same_table_and_different_seed_differs():
    a = testdata.generate_month(2023, 3, 2_000, seed=11, bad_fraction=0.01).table
    b = testdata.generate_month(2023, 3, 2_000, seed=11, bad_fraction=0.01).table
    c = testdata.generate_month(2023, 3, 2_000, seed=12, bad_fraction=0.01).table
    assert a.equals(b)
    assert not a.equals(c)


def test_months_are_independent_of_which_other_months_are_generated(tmp_path):
    alone = testdata.generate_month(2022, 5, 500, seed=3).table
    testdata.write_months("file://" + str(tmp_path), [(2022, 4), (2022, 5)], 500, seed=3)
    assert pq.read_table(tmp_path / "yellow_tripdata_2022-05.parquet").equals(alone)


@pytest.mark.parametrize(
    ("month", "expected"),
    [
        ((2018, 12), {"passenger_count": pa.int64(), "VendorID": pa.int64()}),
        ((2019, 1), {"congestion_surcharge": pa.null()}),
        (
            (2021, 6),
            {
                "passenger_count": pa.float64(),
                "RatecodeID": pa.float64(),
                "airport_fee": pa.float64(),
            },
        ),
        (
            (2023, 1),
            {"passenger_count": pa.int64(), "VendorID": pa.int32(), "Airport_fee": pa.float64()},
        ),
        ((2024, 3), {"store_and_fwd_flag": pa.large_string()}),
        ((2025, 1), {"cbd_congestion_fee": pa.float64()}),
    ],
)
def test_month_schema_drifts_like_the_tlc_files(month, expected):
    schema = testdata.month_schema(*month)
    for name, typ in expected.items():
        assert schema.field(name).type == typ


def test_column_presence_by_era():
    names_2018 = testdata.month_schema(2018, 12).names
    names_2022 = testdata.month_schema(2022, 1).names
    names_2023 = testdata.month_schema(2023, 1).names
    assert "congestion_surcharge" not in names_2018
    assert "airport_fee" not in names_2018
    assert "airport_fee" in names_2022
    assert "Airport_fee" not in names_2022
    assert "Airport_fee" in names_2023
    assert "airport_fee" not in names_2023
    assert "cbd_congestion_fee" not in names_2023


def test_all_null_column_is_entirely_null():
    t = testdata.generate_month(2019, 1, 300, seed=1).table
    assert t.column("congestion_surcharge").null_count == 300


def _np(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy(zero_copy_only=False)


def test_clean_rows_are_plausible_and_correlated():
    t = testdata.generate_month(2023, 5, 50_000, seed=5).table
    distance = _np(t, "trip_distance")
    fare = _np(t, "fare_amount")
    pickup = _np(t, "tpep_pickup_datetime")
    dropoff = _np(t, "tpep_dropoff_datetime")
    minutes = (dropoff - pickup).astype("timedelta64[s]").astype(float) / 60
    assert distance.min() > 0
    assert fare.min() > 0
    assert minutes.min() >= 1
    assert pickup.min() >= np.datetime64("2023-05-01")
    assert pickup.max() < np.datetime64("2023-06-01")
    assert 2.0 < distance.mean() < 6.0
    assert np.corrcoef(distance, fare)[0, 1] > 0.8
    assert np.corrcoef(distance, minutes)[0, 1] > 0.6
    payment = _np(t, "payment_type")
    tips = _np(t, "tip_amount")
    assert (tips[payment == 2] == 0).all()  # cash tips are not recorded
    assert tips[payment == 1].mean() > 1.0
    pu = _np(t, "PULocationID")
    airport_fee = t.column("Airport_fee").to_numpy(zero_copy_only=False)
    flex = payment == 0
    assert np.isnan(airport_fee[flex]).all()  # flex-fare rows carry nulls
    assert (airport_fee[(pu == testdata.JFK) & ~flex] == 1.75).all()
    assert (airport_fee[~np.isin(pu, [testdata.JFK, testdata.LGA]) & ~flex] == 0).all()
    assert t.column("passenger_count").null_count == int(flex.sum()) > 0
    jfk_flat = _np(t, "RatecodeID")
    assert set(np.unique(fare[(jfk_flat == 2) & ~flex])) == {70.0}
    total = _np(t, "total_amount")
    parts = sum(
        np.nan_to_num(_np(t, c))
        for c in (
            "fare_amount",
            "extra",
            "mta_tax",
            "tip_amount",
            "tolls_amount",
            "improvement_surcharge",
            "congestion_surcharge",
            "Airport_fee",
        )
    )
    assert np.allclose(total, parts, atol=0.011)


def test_bad_rows_have_exactly_the_injected_defects():
    n, f = 20_000, 0.02
    gen = testdata.generate_month(2022, 2, n, seed=9, bad_fraction=f)
    t = gen.table
    assert sum(gen.injected.values()) == round(n * f)
    assert set(gen.injected) == set(testdata.BAD_KINDS)
    fare = _np(t, "fare_amount")
    distance = _np(t, "trip_distance")
    pickup = _np(t, "tpep_pickup_datetime")
    dropoff = _np(t, "tpep_dropoff_datetime")
    month_start, month_end = np.datetime64("2022-02-01"), np.datetime64("2022-03-01")
    assert int((fare < 0).sum()) == gen.injected["negative_amount"]
    assert int((distance <= 0).sum()) == gen.injected["zero_distance"]
    assert int((pickup > dropoff).sum()) == gen.injected["pickup_after_dropoff"]
    outside = (pickup < month_start) | (pickup >= month_end)
    assert int((outside & (pickup <= dropoff)).sum()) == gen.injected["outside_file_month"]


@pytest.mark.parametrize("rows", [0, 1, 7])
def test_tiny_sizes(rows):
    t = testdata.generate_month(2023, 1, rows, seed=1, bad_fraction=0.5).table
    assert t.num_rows == rows
    assert t.schema == testdata.month_schema(2023, 1)


def test_parse_months_ranges_and_errors():
    assert testdata.parse_months("2022-11..2023-02") == [
        (2022, 11),
        (2022, 12),
        (2023, 1),
        (2023, 2),
    ]
    assert testdata.parse_months("2019-01,2020-05") == [(2019, 1), (2020, 5)]
    with pytest.raises(ConfigError, match="2023-13"):
        testdata.parse_months("2023-13")
    with pytest.raises(ConfigError, match="not YYYY-MM"):
        testdata.parse_months("jan")


def test_cli_writes_one_file_per_month(tmp_path, capsys):
    code = testdata.main(
        [
            "--out",
            "file://" + str(tmp_path),
            "--months",
            "2023-01..2023-02",
            "--rows",
            "50",
            "--seed",
            "1",
        ]
    )
    assert code == 0
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["yellow_tripdata_2023-01.parquet", "yellow_tripdata_2023-02.parquet"]
    assert pq.read_metadata(tmp_path / files[0]).num_rows == 50
    assert '"files"' in capsys.readouterr().out
    pickups = pq.read_table(tmp_path / files[1]).column("tpep_pickup_datetime")
    assert pc.min(pickups).as_py().month == 2


def test_cli_rejects_bad_fraction(tmp_path, capsys):
    code = testdata.main(
        ["--out", "file://" + str(tmp_path), "--months", "2023-01", "--bad-fraction", "1.5"]
    )
    assert code == 2
    assert "--bad-fraction" in capsys.readouterr().err
