"""A small, seeded generator of raw TLC trips written straight into a DuckDB warehouse.

It writes ``<raw schema>.trips`` with the exact columns and types the Spark loads produce
(docs/architecture.md#storage-and-warehouse / the dbt data contract), including what dbt has to
cope with: the same record delivered by two files, older months with null columns, and
implausible-but-valid values on both sides of every ML filter bound. :func:`reference`
recomputes, in plain Python, what the dbt models must produce from it, so the tests compare dbt
against an independent calculation.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb

COLUMNS = {
    "VendorID": "INTEGER",
    "tpep_pickup_datetime": "TIMESTAMP",
    "tpep_dropoff_datetime": "TIMESTAMP",
    "passenger_count": "BIGINT",
    "trip_distance": "DOUBLE",
    "RatecodeID": "BIGINT",
    "store_and_fwd_flag": "VARCHAR",
    "PULocationID": "INTEGER",
    "DOLocationID": "INTEGER",
    "payment_type": "BIGINT",
    "fare_amount": "DOUBLE",
    "extra": "DOUBLE",
    "mta_tax": "DOUBLE",
    "tip_amount": "DOUBLE",
    "tolls_amount": "DOUBLE",
    "improvement_surcharge": "DOUBLE",
    "total_amount": "DOUBLE",
    "congestion_surcharge": "DOUBLE",
    "airport_fee": "DOUBLE",
    "cbd_congestion_fee": "DOUBLE",
    "pickup_date": "DATE",
    "source_file": "VARCHAR",
    "source_month": "DATE",
}

# Months covering the schema history: no congestion/airport fee (2018), both (2024), CBD fee (2025).
MONTHS = [date(2018, 12, 1), date(2024, 1, 1), date(2024, 2, 1), date(2025, 1, 1)]
# A few zones per borough, the airports, and the two non-zones (264 Unknown, 265 Outside of NYC).
ZONES = [1, 4, 12, 43, 48, 132, 138, 161, 230, 236, 237, 25, 61, 7, 82, 3, 69, 5, 23]
BOROUGHS = {
    1: "EWR", 4: "Manhattan", 12: "Manhattan", 43: "Manhattan", 48: "Manhattan",
    132: "Queens", 138: "Queens", 161: "Manhattan", 230: "Manhattan", 236: "Manhattan",
    237: "Manhattan", 25: "Brooklyn", 61: "Brooklyn", 7: "Queens", 82: "Queens", 3: "Bronx",
    69: "Bronx", 5: "Staten Island", 23: "Staten Island", 264: "Unknown", 265: "Unknown",
}  # fmt: skip


@dataclass(frozen=True)
class Trip:
    row: tuple  # values in COLUMNS order

    def __getitem__(self, name: str):
        return self.row[list(COLUMNS).index(name)]


def _month_file(month: date) -> str:
    return f"yellow_tripdata_{month:%Y-%m}.parquet"


def generate(rows_per_month: int = 500, seed: int = 7) -> list[tuple]:
    """Rows in COLUMNS order. About 4 % are re-deliveries of an earlier row, ~15 % are invalid."""
    rng = random.Random(seed)
    rows: list[tuple] = []
    for month in MONTHS:
        next_month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        days = (next_month - month).days
        for _ in range(rows_per_month):
            pickup = datetime(month.year, month.month, 1) + timedelta(
                days=rng.randrange(days), seconds=rng.randrange(86400)
            )
            minutes = rng.uniform(2, 60)
            distance = round(rng.uniform(0.3, 18), 2)
            fare = round(3 + distance * 2.5 + minutes * 0.5, 2)
            passengers: int | None = rng.choice([1, 1, 1, 2, 3, 5, 6])
            pu, do = rng.choice(ZONES), rng.choice(ZONES)
            kind = rng.random()
            # One implausible value per invalid row, on both sides of each bound.
            if kind < 0.02:
                fare = rng.choice([0.0, 2.49, 500.5, -12.5])
            elif kind < 0.04:
                distance = rng.choice([0.0, 0.05, 150.0])
            elif kind < 0.06:
                minutes = rng.choice([0.5, 200.0, -3.0])
            elif kind < 0.08:
                pu = rng.choice([264, 265])
            elif kind < 0.10:
                passengers = rng.choice([0, 7, 9])
            elif kind < 0.14:
                passengers = None  # missing count: valid, read as 1
            dropoff = pickup + timedelta(seconds=round(minutes * 60))
            payment = rng.choice([1, 1, 1, 2, 2, 3, 4, 0])
            tip = round(fare * rng.choice([0.1, 0.15, 0.2, 0.25]), 2) if payment == 1 else 0.0
            tolls = 6.94 if pu in (132, 138) and rng.random() < 0.3 else 0.0
            newer = month >= date(2019, 1, 1)
            congestion = 2.5 if newer else None
            airport_fee = (1.75 if pu in (132, 138) else 0.0) if newer else None
            cbd = 0.75 if month >= date(2025, 1, 1) else None
            extra, mta, improvement = 1.0, 0.5, 1.0
            total = round(
                fare + extra + mta + tip + tolls + improvement + (congestion or 0)
                + (airport_fee or 0) + (cbd or 0),
                2,
            )  # fmt: skip
            rows.append(
                (
                    rng.choice([1, 2]), pickup, dropoff, passengers, distance,
                    rng.choice([1, 1, 1, 2, 5, None]), rng.choice(["N", "N", "Y", None]), pu, do,
                    payment, fare, extra, mta, tip, tolls, improvement, total, congestion,
                    airport_fee, cbd, pickup.date(), _month_file(month), month,
                )
            )  # fmt: skip
    # Re-deliveries: the same record again, from the next month's file.
    for original in rng.sample(rows, k=len(rows) // 25):
        later = (original[-1].replace(day=28) + timedelta(days=4)).replace(day=1)
        rows.append((*original[:-2], _month_file(later), later))
    rng.shuffle(rows)
    return rows


def write(path: str, rows: list[tuple], schema: str = "raw") -> None:
    """Create (or replace) ``<schema>.trips`` in the DuckDB file ``path`` with ``rows``."""
    con = duckdb.connect(path)
    try:
        con.execute(f'create schema if not exists "{schema}"')
        cols = ", ".join(f'"{c}" {t}' for c, t in COLUMNS.items())
        con.execute(f'create or replace table "{schema}".trips ({cols})')
        marks = ", ".join("?" for _ in COLUMNS)
        con.executemany(f'insert into "{schema}".trips values ({marks})', rows)
    finally:
        con.close()


def _key(t: dict) -> tuple:
    return (
        t["VendorID"], t["tpep_pickup_datetime"], t["tpep_dropoff_datetime"], t["PULocationID"],
        t["DOLocationID"], round(t["trip_distance"] * 100), round(t["fare_amount"] * 100),
        round(t["total_amount"] * 100),
    )  # fmt: skip


def deduplicated(rows: list[tuple]) -> list[dict]:
    """One dict per distinct trip (natural key), the newest delivery kept."""
    best: dict[tuple, dict] = {}
    for r in rows:
        t = dict(zip(COLUMNS, r, strict=True))
        k = _key(t)
        if k not in best or (t["source_month"], t["source_file"]) > (
            best[k]["source_month"],
            best[k]["source_file"],
        ):
            best[k] = t
    return list(best.values())


def is_valid(t: dict) -> bool:
    minutes = (t["tpep_dropoff_datetime"] - t["tpep_pickup_datetime"]).total_seconds() / 60
    passengers = 1 if t["passenger_count"] is None else t["passenger_count"]
    return (
        2.5 <= t["fare_amount"] <= 500
        and 0.1 <= t["trip_distance"] <= 100
        and 1 <= minutes <= 180
        and 1 <= t["PULocationID"] <= 263
        and 1 <= t["DOLocationID"] <= 263
        and 1 <= passengers <= 6
    )


@dataclass
class Reference:
    distinct_trips: int
    valid_trips: int
    valid_by_date: dict[date, int]
    monthly: dict[tuple[date, str], tuple[int, float]]  # (month, borough) -> (trips, revenue)


def reference(rows: list[tuple]) -> Reference:
    trips = deduplicated(rows)
    valid = [t for t in trips if is_valid(t)]
    by_date: dict[date, int] = defaultdict(int)
    for t in valid:
        by_date[t["pickup_date"]] += 1
    monthly: dict[tuple[date, str], list] = defaultdict(lambda: [0, 0.0])
    for t in trips:
        key = (t["pickup_date"].replace(day=1), BOROUGHS[t["PULocationID"]])
        monthly[key][0] += 1
        monthly[key][1] += t["total_amount"]
    return Reference(
        distinct_trips=len(trips),
        valid_trips=len(valid),
        valid_by_date=dict(by_date),
        monthly={k: (v[0], v[1]) for k, v in monthly.items()},
    )
