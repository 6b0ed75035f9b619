"""Row-level quality rules: which rows are quarantined and why.

Rules are evaluated in order and a row gets the first reason that applies, so every
quarantined row has exactly one ``reason``:

==========================  ===============================================================
``missing_timestamp``       pickup or dropoff time is null
``negative_amount``         ``fare_amount`` or ``total_amount`` < 0 (refund/void rows)
``pickup_after_dropoff``    pickup time later than dropoff time
``zero_distance``           ``trip_distance`` null or <= 0
``outside_file_month``      pickup month differs from the month the file covers. Loading
                            these would overwrite date partitions owned by another month's
                            file (the real files carry stray 2002/2008 timestamps).
==========================  ===============================================================
"""

from __future__ import annotations

REASONS = (
    "missing_timestamp",
    "negative_amount",
    "pickup_after_dropoff",
    "zero_distance",
    "outside_file_month",
)


def reason_column():
    from pyspark.sql import functions as F

    pickup = F.col("tpep_pickup_datetime")
    dropoff = F.col("tpep_dropoff_datetime")
    return (
        F.when(pickup.isNull() | dropoff.isNull(), F.lit("missing_timestamp"))
        .when((F.col("fare_amount") < 0) | (F.col("total_amount") < 0), F.lit("negative_amount"))
        .when(pickup > dropoff, F.lit("pickup_after_dropoff"))
        .when(F.coalesce(F.col("trip_distance"), F.lit(0.0)) <= 0, F.lit("zero_distance"))
        .when(
            F.trunc(F.col("pickup_date"), "month") != F.col("source_month"),
            F.lit("outside_file_month"),
        )
    )


def classify(df):
    """``df`` (canonical + lineage columns) with a ``reason`` column, null for good rows."""
    return df.withColumn("reason", reason_column())
