"""Deterministic test data shaped like the TLC yellow-taxi monthly Parquet files.

Every pipeline test and ``npm start`` use these files instead of the real ones, so they carry
the real files' shape and the real kinds of drift:

* columns, types and value ranges of the published files, with the correlations that matter
  downstream: duration follows distance and time-of-day speed, fares follow the TLC rate card of
  the era (flat JFK fare, per-mile and per-minute rates), tips are card-only and proportional to
  the fare, airport pickups pay the airport fee and usually a toll, Manhattan trips pay the
  congestion surcharge (2019+) and the congestion relief zone fee (2025+), flex-fare rows
  (``payment_type`` 0) have null passenger count, rate code, flag and surcharges;
* schema drift by month (see :func:`month_schema`): ``passenger_count`` and ``RatecodeID`` are
  ``double`` in 2020-2022 and ``int64`` otherwise, ``VendorID`` and the zone ids are ``int32``
  from 2023, ``congestion_surcharge`` is absent before 2019 and an all-null (Parquet Null type)
  column in 2019-01, ``airport_fee`` appears in 2021 and becomes ``Airport_fee`` in 2023,
  ``cbd_congestion_fee`` appears in 2025 and ``store_and_fwd_flag`` is ``large_string`` from
  2024;
* optional bad rows, each with exactly one defect so tests can count them: negative amounts
  (refund rows), zero-distance trips, pickup after dropoff, and pickups outside the file's month.

Output is a pure function of ``(seed, year, month, rows, bad_fraction)``.
"""

from __future__ import annotations

import argparse
import calendar
import json
import sys
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from taxi_spark import uris
from taxi_spark.errors import ConfigError, TaxiSparkError

BAD_KINDS = ("negative_amount", "zero_distance", "pickup_after_dropoff", "outside_file_month")

MANHATTAN = np.array([
    4, 12, 13, 24, 41, 42, 43, 45, 48, 50, 68, 74, 75, 79, 87, 88, 90, 100, 103, 104, 105, 107,
    113, 114, 116, 120, 125, 127, 128, 137, 140, 141, 142, 143, 144, 148, 151, 152, 153, 158,
    161, 162, 163, 164, 166, 170, 186, 194, 202, 209, 211, 224, 229, 230, 231, 232, 233, 234,
    236, 237, 238, 239, 243, 244, 246, 249, 261, 262, 263,
])  # fmt: skip
# fmt: off
_BUSY = {43, 48, 68, 79, 100, 107, 140, 141, 142, 161, 162, 163, 164, 170, 186, 230, 234, 236,
         237, 239, 262, 263}  # midtown, upper east/west side: most pickups
# fmt: on
MANHATTAN_WEIGHTS = np.array([4.0 if z in _BUSY else 1.0 for z in MANHATTAN])
MANHATTAN_WEIGHTS /= MANHATTAN_WEIGHTS.sum()
JFK, LGA, EWR = 132, 138, 1
OUTER = np.array([z for z in range(2, 264) if z not in set(MANHATTAN) | {JFK, LGA}])

# Share of the day's trips starting in each hour (a weekday-ish profile, normalised below).
HOUR_WEIGHTS = np.array([
    2.8, 1.9, 1.3, 0.9, 0.7, 0.8, 1.8, 3.3, 4.4, 4.6, 4.6, 4.8,
    5.1, 5.2, 5.5, 5.8, 5.8, 6.3, 6.9, 6.6, 5.8, 5.6, 5.1, 4.0,
])  # fmt: skip
HOUR_WEIGHTS = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()


def month_schema(year: int, month: int) -> pa.Schema:
    """The column names and Arrow types of the file for ``year``-``month``."""
    ym = year * 100 + month
    nullable_int = pa.float64() if 2020 <= year <= 2022 else pa.int64()
    small_int = pa.int32() if year >= 2023 else pa.int64()
    fields = [
        ("VendorID", small_int),
        ("tpep_pickup_datetime", pa.timestamp("us")),
        ("tpep_dropoff_datetime", pa.timestamp("us")),
        ("passenger_count", nullable_int),
        ("trip_distance", pa.float64()),
        ("RatecodeID", nullable_int),
        ("store_and_fwd_flag", pa.large_string() if year >= 2024 else pa.string()),
        ("PULocationID", small_int),
        ("DOLocationID", small_int),
        ("payment_type", pa.int64()),
        ("fare_amount", pa.float64()),
        ("extra", pa.float64()),
        ("mta_tax", pa.float64()),
        ("tip_amount", pa.float64()),
        ("tolls_amount", pa.float64()),
        ("improvement_surcharge", pa.float64()),
        ("total_amount", pa.float64()),
    ]
    if ym == 201901:
        fields.append(("congestion_surcharge", pa.null()))
    elif ym > 201901:
        fields.append(("congestion_surcharge", pa.float64()))
    if 2021 <= year <= 2022:
        fields.append(("airport_fee", pa.float64()))
    elif year >= 2023:
        fields.append(("Airport_fee", pa.float64()))
    if year >= 2025:
        fields.append(("cbd_congestion_fee", pa.float64()))
    return pa.schema(fields)


@dataclass(frozen=True)
class GeneratedMonth:
    year: int
    month: int
    table: pa.Table
    injected: dict[str, int]  # bad rows injected, by kind (see BAD_KINDS)


def _rates(year: int) -> dict[str, float]:
    if year >= 2023:
        return {
            "base": 3.0,
            "mile": 3.5,
            "minute": 0.7,
            "jfk": 70.0,
            "improvement": 1.0,
            "night": 1.0,
            "rush": 2.5,
            "airport_fee": 1.75,
            "toll": 6.94,
        }
    return {
        "base": 2.5,
        "mile": 2.5,
        "minute": 0.5,
        "jfk": 52.0,
        "improvement": 0.3,
        "night": 0.5,
        "rush": 1.0,
        "airport_fee": 1.25,
        "toll": 6.55,
    }


def generate_month(
    year: int, month: int, rows: int, *, seed: int = 42, bad_fraction: float = 0.0
) -> GeneratedMonth:
    """One month of trips as an Arrow table with that month's schema."""
    if rows < 0:
        raise ConfigError(f"--rows must be >= 0, got {rows}.")
    if not 0.0 <= bad_fraction <= 1.0:
        raise ConfigError(f"--bad-fraction must be between 0 and 1, got {bad_fraction}.")
    rng = np.random.default_rng(np.random.SeedSequence([seed, year, month]))
    n = rows
    r = _rates(year)
    days = calendar.monthrange(year, month)[1]
    start = np.datetime64(f"{year:04d}-{month:02d}-01T00:00:00", "us")

    # When: day of month, hour from the daily profile, then minute and second.
    day = rng.integers(0, days, n)
    hour = rng.choice(24, n, p=HOUR_WEIGHTS)
    second_of_hour = rng.integers(0, 3600, n)
    pickup = start + ((day * 24 + hour) * 3600 + second_of_hour).astype("timedelta64[s]")
    weekday = (pickup.astype("datetime64[D]").view("int64") - 4) % 7  # 0 = Monday
    rush = (weekday < 5) & (hour >= 16) & (hour < 20)
    night = (hour >= 20) | (hour < 6)

    # Where: airport trips, Manhattan-heavy zones otherwise.
    kind = rng.choice(4, n, p=[0.90, 0.04, 0.035, 0.025])  # 0 city, 1 JFK, 2 LGA, 3 airport drop
    from_airport = (kind == 1) | (kind == 2)

    def city_zones(size: int) -> np.ndarray:
        in_mn = rng.random(size) < 0.86
        mn = rng.choice(MANHATTAN, size, p=MANHATTAN_WEIGHTS)
        outer = rng.choice(OUTER, size)
        return np.where(in_mn, mn, outer)

    pu = city_zones(n)
    do = city_zones(n)
    pu = np.where(kind == 1, JFK, np.where(kind == 2, LGA, pu))
    drop_airport = rng.choice([JFK, LGA, EWR], n, p=[0.5, 0.45, 0.05])
    do = np.where(kind == 3, drop_airport, do)
    airport_trip = from_airport | (kind == 3)

    # How far and how long: distance by trip kind, speed by hour, then duration.
    city_dist = np.exp(rng.normal(np.log(1.7), 0.75, n))
    jfk_dist = rng.normal(17.5, 2.5, n)
    lga_dist = rng.normal(10.5, 2.0, n)
    distance = np.where(
        (pu == JFK) | (do == JFK),
        jfk_dist,
        np.where((pu == LGA) | (do == LGA), lga_dist, city_dist),
    )
    distance = np.where(do == EWR, rng.normal(18.0, 2.0, n), distance)
    distance = np.round(np.clip(distance, 0.1, 60.0), 2)
    base_speed = np.where(night, 19.0, np.where(rush | ((hour >= 7) & (hour < 10)), 9.5, 12.0))
    speed = base_speed * np.exp(rng.normal(0.0, 0.25, n)) + np.where(airport_trip, 6.0, 0.0)
    duration_s = distance / speed * 3600.0 + rng.normal(110.0, 30.0, n)
    duration_s = np.clip(duration_s, 60.0, 6 * 3600.0).astype("int64")
    dropoff = pickup + duration_s.astype("timedelta64[s]")
    minutes = duration_s / 60.0

    # Who pays how.
    payment = rng.choice([1, 2, 3, 4], n, p=[0.74, 0.23, 0.015, 0.015])
    flex = rng.random(n) < (0.03 if year >= 2022 else 0.0)
    payment = np.where(flex, 0, payment)
    jfk_flat = ((pu == JFK) & np.isin(do, MANHATTAN)) | ((do == JFK) & np.isin(pu, MANHATTAN))
    ratecode = np.where(jfk_flat, 2, 1)
    negotiated = rng.random(n) < 0.004
    ratecode = np.where(negotiated & ~jfk_flat, 5, ratecode)
    ratecode = np.where(do == EWR, 3, ratecode)
    metered = r["base"] + r["mile"] * distance + r["minute"] * minutes * 0.35
    fare = np.where(ratecode == 2, r["jfk"], metered)
    fare = np.where(ratecode == 5, np.round(rng.uniform(20.0, 120.0, n)), fare)
    fare = np.where(ratecode == 3, metered + 20.0, fare)
    fare = np.round(fare, 2)
    extra = np.where(rush, r["rush"], np.where(night, r["night"], 0.0))
    extra = np.where(ratecode == 2, 0.0, extra)
    mta_tax = np.full(n, 0.5)
    improvement = np.full(n, r["improvement"])
    manhattan_end = np.isin(pu, MANHATTAN) | np.isin(do, MANHATTAN)
    congestion = np.where(manhattan_end, 2.5, 0.0) if year >= 2019 else np.zeros(n)
    airport_fee = np.where(from_airport & (year >= 2021), r["airport_fee"], 0.0)
    cbd = np.where(manhattan_end & (year >= 2025), 0.75, 0.0)
    # Flex-fare rows publish these surcharges as null; keep the total consistent with that.
    congestion = np.where(flex, 0.0, congestion)
    airport_fee = np.where(flex, 0.0, airport_fee)
    tolls = np.where(rng.random(n) < np.where(airport_trip, 0.6, 0.02), r["toll"], 0.0)
    subtotal = fare + extra + mta_tax + improvement + tolls
    tip_pct = rng.choice([0.0, 0.15, 0.2, 0.25, 0.3], n, p=[0.1, 0.2, 0.4, 0.2, 0.1])
    tip_pct = np.clip(tip_pct + rng.normal(0.0, 0.01, n), 0.0, None)
    tip = np.where(payment == 1, np.round(subtotal * tip_pct, 2), 0.0)
    total = np.round(subtotal + tip + congestion + airport_fee + cbd, 2)
    passengers = rng.choice([0, 1, 2, 3, 4, 5, 6], n, p=[0.01, 0.71, 0.14, 0.04, 0.03, 0.04, 0.03])
    vendor = rng.choice([1, 2], n, p=[0.27, 0.73])
    flag = np.where(rng.random(n) < 0.005, "Y", "N")

    # Bad rows: each chosen row gets exactly one defect, kinds in turn.
    injected = dict.fromkeys(BAD_KINDS, 0)
    n_bad = round(n * bad_fraction)
    if n_bad:
        idx = np.sort(rng.choice(n, n_bad, replace=False))
        kinds = np.arange(n_bad) % len(BAD_KINDS)
        for k, name in enumerate(BAD_KINDS):
            sel = idx[kinds == k]
            injected[name] = int(sel.size)
            if name == "negative_amount":  # refund rows: every amount negated
                for arr in (
                    fare,
                    extra,
                    mta_tax,
                    improvement,
                    tolls,
                    tip,
                    congestion,
                    airport_fee,
                    cbd,
                    total,
                ):
                    arr[sel] = -arr[sel]
            elif name == "zero_distance":
                distance[sel] = 0.0
            elif name == "pickup_after_dropoff":
                pickup[sel], dropoff[sel] = dropoff[sel], pickup[sel].copy()
            else:  # a stray timestamp years before the file's month
                shift = np.timedelta64(15 * 365, "D")
                pickup[sel] = pickup[sel] - shift
                dropoff[sel] = dropoff[sel] - shift

    schema = month_schema(year, month)
    values = {
        "VendorID": vendor,
        "tpep_pickup_datetime": pickup,
        "tpep_dropoff_datetime": dropoff,
        "passenger_count": passengers,
        "trip_distance": distance,
        "RatecodeID": ratecode,
        "store_and_fwd_flag": flag,
        "PULocationID": pu,
        "DOLocationID": do,
        "payment_type": payment,
        "fare_amount": fare,
        "extra": extra,
        "mta_tax": mta_tax,
        "tip_amount": tip,
        "tolls_amount": tolls,
        "improvement_surcharge": improvement,
        "total_amount": total,
        "congestion_surcharge": congestion,
        "airport_fee": airport_fee,
        "Airport_fee": airport_fee,
        "cbd_congestion_fee": cbd,
    }
    null_on_flex = {
        "passenger_count",
        "RatecodeID",
        "store_and_fwd_flag",
        "congestion_surcharge",
        "airport_fee",
        "Airport_fee",
    }
    arrays = []
    for field in schema:
        if pa.types.is_null(field.type):
            arrays.append(pa.nulls(n, pa.null()))
            continue
        mask = flex if field.name in null_on_flex and flex.any() else None
        arrays.append(pa.array(values[field.name], type=field.type, mask=mask))
    return GeneratedMonth(year, month, pa.Table.from_arrays(arrays, schema=schema), injected)


def file_name(year: int, month: int) -> str:
    return f"yellow_tripdata_{year:04d}-{month:02d}.parquet"


def write_table(table: pa.Table, uri: str, *, row_group_size: int = 131_072) -> None:
    loc = uris.parse(uri, arg="--out")
    fs = uris.filesystem(loc)
    parent = loc.path.rsplit("/", 1)[0]
    if loc.scheme == "file":
        fs.create_dir(parent, recursive=True)
    pq.write_table(
        table, loc.path, filesystem=fs, row_group_size=row_group_size, compression="snappy"
    )


def write_months(
    out_uri: str,
    months: list[tuple[int, int]],
    rows: int,
    *,
    seed: int = 42,
    bad_fraction: float = 0.0,
    row_group_size: int = 131_072,
) -> dict[str, dict[str, int]]:
    """Write one ``yellow_tripdata_YYYY-MM.parquet`` per month under ``out_uri``.

    Returns ``{file uri: {bad kind: rows injected}}``.
    """
    out: dict[str, dict[str, int]] = {}
    for year, month in months:
        gen = generate_month(year, month, rows, seed=seed, bad_fraction=bad_fraction)
        uri = out_uri.rstrip("/") + "/" + file_name(year, month)
        write_table(gen.table, uri, row_group_size=row_group_size)
        out[uri] = gen.injected
    return out


def parse_months(text: str) -> list[tuple[int, int]]:
    """``2023-01`` or ``2022-11..2023-02`` (inclusive) or a comma-separated list of either."""
    months: list[tuple[int, int]] = []
    for raw in text.split(","):
        part = raw.strip()
        lo, _, hi = part.partition("..")
        try:
            y0, m0 = (int(x) for x in lo.split("-"))
            y1, m1 = (int(x) for x in (hi or lo).split("-"))
        except ValueError:
            raise ConfigError(
                f"--months {text!r}: {part!r} is not YYYY-MM or YYYY-MM..YYYY-MM."
            ) from None
        if not (1 <= m0 <= 12 and 1 <= m1 <= 12) or (y1, m1) < (y0, m0):
            raise ConfigError(f"--months {text!r}: {part!r} is not a valid month range.")
        y, m = y0, m0
        while (y, m) <= (y1, m1):
            months.append((y, m))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m taxi_spark.testdata",
        description="Write TLC-shaped yellow-taxi Parquet files, one per month.",
    )
    parser.add_argument("--out", required=True, help="folder URI (file://, gs://, s3://)")
    parser.add_argument("--months", required=True, help="e.g. 2023-01 or 2022-11..2023-02")
    parser.add_argument("--rows", type=int, default=10_000, help="rows per month (default 10000)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--bad-fraction",
        type=float,
        default=0.0,
        help="share of rows with one injected defect (default 0)",
    )
    args = parser.parse_args(argv)
    try:
        written = write_months(
            args.out,
            parse_months(args.months),
            args.rows,
            seed=args.seed,
            bad_fraction=args.bad_fraction,
        )
    except TaxiSparkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"files": written}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
