"""Seeded generator of a ``fare_features`` table with a known fare function (tests, benchmark).

The fare is a simple, learnable function of the features plus Gaussian noise, so a model can
recover it and a deliberately weak model measurably cannot::

    fare = 3.00 + 2.50 × miles × (1.2 when picked up in Manhattan)
           + 1.00 weekday 16–20 h + 0.50 night (20–6 h) + 5.00 airport trip
    fare = 70.00 flat for rate code 2 (JFK)
    fare × price_multiplier(month) + noise(σ), clipped to the contract's 2.5–500 USD

``price_multiplier`` lets a test raise prices from a month on (a fare increase, like the real
one of December 2022), which a champion trained before it cannot know.
"""

from __future__ import annotations

import calendar
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

BOROUGHS = ["Manhattan", "Brooklyn", "Queens", "Bronx", "Staten Island"]
AIRPORT_ZONES = (1, 132, 138)  # Newark, JFK, LaGuardia
JFK = 132


def zone_borough(zone: np.ndarray) -> np.ndarray:
    """A fixed zone → borough map (not the real one; the model only needs consistency)."""
    boroughs = np.array(BOROUGHS, dtype=object)[(zone * 7) % len(BOROUGHS)]
    boroughs[zone == 1] = "EWR"
    boroughs[np.isin(zone, (JFK, 138))] = "Queens"
    return boroughs


def expected_fare(df: pd.DataFrame) -> np.ndarray:
    """The noiseless fare of each row (before the month's price multiplier)."""
    miles = df["trip_distance"].to_numpy(dtype=float)
    hour = df["pickup_hour"].to_numpy()
    manhattan = (df["pickup_borough"] == "Manhattan").to_numpy()
    weekday = ~df["is_weekend"].to_numpy(dtype=bool)
    fare = 3.0 + 2.5 * miles * np.where(manhattan, 1.2, 1.0)
    fare += np.where(weekday & (hour >= 16) & (hour < 20), 1.0, 0.0)
    fare += np.where((hour >= 20) | (hour < 6), 0.5, 0.0)
    fare += np.where(df["is_airport_trip"].to_numpy(dtype=bool), 5.0, 0.0)
    ratecode = df["ratecode_id"].fillna(1).to_numpy()
    return np.where(ratecode == 2, 70.0, fare)


def month_range(first: str, last: str) -> list[str]:
    """``month_range("2024-11", "2025-02")`` → ``["2024-11", "2024-12", "2025-01", "2025-02"]``."""
    y, m = (int(x) for x in first.split("-"))
    y_end, m_end = (int(x) for x in last.split("-"))
    out = []
    while (y, m) <= (y_end, m_end):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def fare_features(
    rows_per_month: int,
    months: list[str],
    seed: int = 7,
    noise: float = 1.0,
    price_multiplier: dict[str, float] | None = None,
) -> pd.DataFrame:
    """``rows_per_month`` trips for each ``YYYY-MM`` in ``months``, contract columns and types."""
    rng = np.random.default_rng(seed)
    frames = []
    for month in months:
        year, mon = (int(x) for x in month.split("-"))
        n = rows_per_month
        n_days = calendar.monthrange(year, mon)[1]
        day = rng.integers(1, n_days + 1, n)
        pickup_date = pd.to_datetime(
            {"year": np.full(n, year), "month": np.full(n, mon), "day": day}
        )
        hour_weights = np.array(
            [2, 1, 1, 1, 1, 2, 3, 5, 6, 5, 5, 5, 5, 5, 5, 6, 7, 8, 8, 7, 6, 5, 4, 3], dtype=float
        )
        hour = rng.choice(24, n, p=hour_weights / hour_weights.sum())
        dow = pickup_date.dt.dayofweek.to_numpy() + 1  # ISO: 1 = Monday
        pu = rng.integers(1, 264, n)
        do = rng.integers(1, 264, n)
        # ~4% of trips start or end at an airport.
        to_airport = rng.random(n) < 0.04
        do[to_airport] = rng.choice(AIRPORT_ZONES, to_airport.sum())
        is_airport = np.isin(pu, AIRPORT_ZONES) | np.isin(do, AIRPORT_ZONES)
        miles = np.clip(
            rng.lognormal(np.log(2.0), 0.7, n) + np.where(is_airport, 10.0, 0.0), 0.1, 60
        )
        ratecode = np.where(((pu == JFK) | (do == JFK)) & (rng.random(n) < 0.6), 2, 1)
        frame = pd.DataFrame(
            {
                "pickup_date": pickup_date.dt.date,
                "pickup_month": date(year, mon, 1),
                "pickup_hour": hour.astype("int32"),
                "pickup_day_of_week": dow.astype("int32"),
                "is_weekend": dow >= 6,
                "pickup_location_id": pu.astype("int32"),
                "dropoff_location_id": do.astype("int32"),
                "pickup_borough": zone_borough(pu),
                "dropoff_borough": zone_borough(do),
                "is_airport_trip": is_airport,
                "trip_distance": np.round(miles, 2),
                "passenger_count": rng.choice([1, 1, 1, 1, 2, 2, 3, 4, 5, 6], n).astype("int32"),
                "ratecode_id": pd.array(ratecode, dtype="Int32"),
                "vendor_id": rng.choice([1, 2, 2, 7], n).astype("int32"),
            }
        )
        # ~1% unknown rate code: the contract allows null there.
        frame.loc[rng.random(n) < 0.01, "ratecode_id"] = pd.NA
        multiplier = (price_multiplier or {}).get(month, 1.0)
        fare = expected_fare(frame) * multiplier + rng.normal(0.0, noise, n)
        frame["fare_amount"] = np.round(np.clip(fare, 2.5, 500.0), 2)
        frame.insert(0, "trip_id", [f"{seed:x}-{month}-{i:07d}" for i in range(n)])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def write_duckdb(df: pd.DataFrame, path: str | Path, schema: str = "marts") -> None:
    """Create or replace ``<schema>.fare_features`` in the DuckDB file with the contract types."""
    import duckdb

    with duckdb.connect(str(path)) as con:
        con.register("generated", df)
        con.execute(f'create schema if not exists "{schema}"')
        con.execute(
            f"""
            create or replace table "{schema}".fare_features as
            select
                cast(trip_id as varchar) as trip_id,
                cast(pickup_date as date) as pickup_date,
                cast(pickup_month as date) as pickup_month,
                cast(pickup_hour as integer) as pickup_hour,
                cast(pickup_day_of_week as integer) as pickup_day_of_week,
                cast(is_weekend as boolean) as is_weekend,
                cast(pickup_location_id as integer) as pickup_location_id,
                cast(dropoff_location_id as integer) as dropoff_location_id,
                cast(pickup_borough as varchar) as pickup_borough,
                cast(dropoff_borough as varchar) as dropoff_borough,
                cast(is_airport_trip as boolean) as is_airport_trip,
                cast(trip_distance as double) as trip_distance,
                cast(passenger_count as integer) as passenger_count,
                cast(ratecode_id as integer) as ratecode_id,
                cast(vendor_id as integer) as vendor_id,
                cast(fare_amount as double) as fare_amount
            from generated
            """
        )
        con.unregister("generated")
