"""The canonical trips schema and how a file's schema is mapped onto it.

The TLC monthly files drift (docs/architecture.md#overview): nullable integer columns are ``int64``
in some months and ``double`` in others, an all-null column is written with Parquet's Null type, one
column changes capitalisation (``airport_fee`` / ``Airport_fee``) and newer columns are absent from
older months. This module decides, from the footer alone, how each canonical column is produced from
a file's columns (:func:`plan`), and applies that plan to a Spark DataFrame (:func:`apply_plan`). A
file that cannot be reconciled fails with a :class:`SchemaError` naming the file and the column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa

from taxi_spark.errors import SchemaError


@dataclass(frozen=True)
class CanonicalColumn:
    name: str
    spark_type: str  # Spark SQL DDL type
    required: bool  # must be present in every source file
    doc: str
    aliases: tuple[str, ...] = ()


# Column names keep the TLC spelling so the raw table reads like the published data dictionary;
# the only rename is Airport_fee -> airport_fee. dbt staging models rename to snake_case.
CANONICAL: tuple[CanonicalColumn, ...] = (
    CanonicalColumn("VendorID", "int", True, "TPEP provider (1, 2, 6, 7)"),
    CanonicalColumn("tpep_pickup_datetime", "timestamp_ntz", True, "meter engaged, local time"),
    CanonicalColumn("tpep_dropoff_datetime", "timestamp_ntz", True, "meter disengaged, local time"),
    CanonicalColumn("passenger_count", "bigint", True, "driver-entered; null on flex-fare trips"),
    CanonicalColumn("trip_distance", "double", True, "miles reported by the taximeter"),
    CanonicalColumn(
        "RatecodeID",
        "bigint",
        True,
        "1 standard, 2 JFK, 3 Newark, 4 Nassau/Westchester, 5 negotiated, 6 group, 99 unknown",
    ),
    CanonicalColumn("store_and_fwd_flag", "string", True, "Y if the record was stored on board"),
    CanonicalColumn("PULocationID", "int", True, "TLC taxi zone of pickup (1-265)"),
    CanonicalColumn("DOLocationID", "int", True, "TLC taxi zone of dropoff (1-265)"),
    CanonicalColumn(
        "payment_type", "bigint", True, "0 flex, 1 card, 2 cash, 3 no charge, 4 dispute"
    ),
    CanonicalColumn("fare_amount", "double", True, "time-and-distance fare, USD"),
    CanonicalColumn("extra", "double", True, "rush-hour and overnight surcharges"),
    CanonicalColumn("mta_tax", "double", True, "MTA tax"),
    CanonicalColumn("tip_amount", "double", True, "card tips (cash tips are not recorded)"),
    CanonicalColumn("tolls_amount", "double", True, "tolls paid"),
    CanonicalColumn("improvement_surcharge", "double", True, "improvement surcharge"),
    CanonicalColumn("total_amount", "double", True, "total charged, excluding cash tips"),
    CanonicalColumn("congestion_surcharge", "double", False, "NYS congestion surcharge (2019+)"),
    CanonicalColumn(
        "airport_fee", "double", False, "LGA/JFK pickup fee (2021+)", aliases=("Airport_fee",)
    ),
    CanonicalColumn(
        "cbd_congestion_fee", "double", False, "MTA congestion relief zone fee (2025+)"
    ),
)

# Columns the loads add after the canonical ones.
LINEAGE: tuple[tuple[str, str, str], ...] = (
    ("pickup_date", "date", "partition column: date of tpep_pickup_datetime"),
    ("source_file", "string", "URI of the file the row was read from"),
    ("source_month", "date", "first day of the month the source file covers"),
)
QUARANTINE_EXTRA: tuple[tuple[str, str, str], ...] = (
    ("reason", "string", "why the row was quarantined (see taxi_spark.quality)"),
)

CANONICAL_NAMES = tuple(c.name for c in CANONICAL)
TRIPS_COLUMNS = CANONICAL_NAMES + tuple(n for n, _, _ in LINEAGE)
QUARANTINE_COLUMNS = TRIPS_COLUMNS + tuple(n for n, _, _ in QUARANTINE_EXTRA)

_INTEGRAL = {"tinyint", "smallint", "int", "bigint"}
_NUMERIC = _INTEGRAL | {"float", "double"}
_TIMESTAMPS = {"timestamp", "timestamp_ntz", "date"}


def canonical_ddl() -> str:
    return ", ".join(f"`{c.name}` {c.spark_type}" for c in CANONICAL)


def trips_types() -> dict[str, str]:
    types = {c.name: c.spark_type for c in CANONICAL}
    types.update({n: t for n, t, _ in LINEAGE})
    return types


def quarantine_types() -> dict[str, str]:
    types = trips_types()
    types.update({n: t for n, t, _ in QUARANTINE_EXTRA})
    return types


@dataclass(frozen=True)
class SourceColumn:
    """One column of a file as Spark will read it, derived from the Parquet footer."""

    name: str
    spark_type: str
    is_null: bool = False  # written with Parquet's Null logical type: every value is null

    def key(self) -> tuple[str, str, bool]:
        return (self.name, self.spark_type, self.is_null)


def spark_type_for(field: pa.Field, physical_type: str | None, file: str) -> SourceColumn:
    """The type Spark 4 infers for a flat Parquet column (what ``spark.read.parquet`` shows)."""
    t = field.type
    name = field.name
    if pa.types.is_dictionary(t):
        t = t.value_type
    if pa.types.is_null(t):
        # Spark reads a Null-annotated INT32 column as int; every value is null.
        return SourceColumn(name, "int", is_null=True)
    if physical_type == "INT96":
        return SourceColumn(name, "timestamp")
    simple = {
        pa.bool_(): "boolean",
        pa.int8(): "tinyint",
        pa.int16(): "smallint",
        pa.int32(): "int",
        pa.int64(): "bigint",
        pa.uint8(): "smallint",
        pa.uint16(): "int",
        pa.uint32(): "bigint",
        pa.float32(): "float",
        pa.float64(): "double",
        pa.string(): "string",
        pa.large_string(): "string",
        pa.binary(): "binary",
        pa.large_binary(): "binary",
        pa.date32(): "date",
    }
    if t in simple:
        return SourceColumn(name, simple[t])
    if pa.types.is_decimal(t):
        return SourceColumn(name, f"decimal({t.precision},{t.scale})")
    if pa.types.is_timestamp(t):
        if t.unit == "ns":
            raise SchemaError(
                f"column {name!r} in file {file} is a nanosecond timestamp, which Spark 4 "
                "cannot read; rewrite the file with microsecond timestamps "
                "(pyarrow: coerce_timestamps='us').",
                file=file,
                column=name,
            )
        return SourceColumn(name, "timestamp" if t.tz else "timestamp_ntz")
    raise SchemaError(
        f"column {name!r} in file {file} has type {t}, which the trips loads do not handle; "
        "only flat numeric, string, boolean, date and timestamp columns are supported.",
        file=file,
        column=name,
    )


def _castable(source: str, target: str) -> bool:
    if source == target:
        return True
    if target in _INTEGRAL or target == "double":
        return source in _NUMERIC or source.startswith("decimal(")
    if target == "timestamp_ntz":
        return source in _TIMESTAMPS
    return False


@dataclass(frozen=True)
class ColumnPlan:
    target: CanonicalColumn
    source: str | None  # source column name, None when filled with nulls
    note: str  # "same", "cast bigint->int", "all-null column", "absent in file", "renamed ..."


@dataclass(frozen=True)
class Plan:
    columns: tuple[ColumnPlan, ...]
    ignored: tuple[str, ...]  # source columns that are not part of the canonical schema


def plan(columns: list[SourceColumn], file: str) -> Plan:  # noqa: PLR0912
    """Decide how each canonical column is produced from ``columns``.

    ``file`` names the file in error messages (for a group: its first file).
    """
    by_lower: dict[str, list[SourceColumn]] = {}
    for col in columns:
        by_lower.setdefault(col.name.lower(), []).append(col)
    used: set[str] = set()
    out: list[ColumnPlan] = []
    for target in CANONICAL:
        candidates: list[SourceColumn] = []
        for name in (target.name, *target.aliases):
            for col in by_lower.get(name.lower(), []):
                if col not in candidates:
                    candidates.append(col)
        if len(candidates) > 1:
            names = ", ".join(repr(c.name) for c in candidates)
            raise SchemaError(
                f"file {file} has {len(candidates)} columns that map to canonical column "
                f"{target.name!r} ({names}); keep one of them.",
                file=file,
                column=target.name,
            )
        if not candidates:
            if target.required:
                raise SchemaError(
                    f"file {file} has no column {target.name!r}, which every trips file must "
                    "have; check that the file is a TLC yellow-taxi trip file.",
                    file=file,
                    column=target.name,
                )
            out.append(ColumnPlan(target, None, "absent in file"))
            continue
        src = candidates[0]
        used.add(src.name)
        if src.is_null:
            out.append(ColumnPlan(target, None, "all-null column"))
            continue
        if not _castable(src.spark_type, target.spark_type):
            raise SchemaError(
                f"column {src.name!r} in file {file} has type {src.spark_type}, which cannot "
                f"be converted to the canonical type {target.spark_type} of {target.name!r}; "
                "fix the file or extend taxi_spark.schema.CANONICAL.",
                file=file,
                column=src.name,
            )
        if src.name != target.name:
            note = f"renamed {src.name}"
        elif src.spark_type == target.spark_type:
            note = "same"
        else:
            note = f"cast {src.spark_type}->{target.spark_type}"
        out.append(ColumnPlan(target, src.name, note))
    ignored = tuple(c.name for c in columns if c.name not in used)
    return Plan(tuple(out), ignored)


_MONTH_IN_NAME = re.compile(r"(\d{4})-(\d{2})(?=[^/]*$)")


def month_from_name(uri: str) -> tuple[int, int] | None:
    """``(2023, 1)`` for ``.../yellow_tripdata_2023-01.parquet``; None if no ``YYYY-MM``."""
    m = _MONTH_IN_NAME.search(uri.rsplit("/", 1)[-1])
    if not m:
        return None
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        return None
    return year, month


def apply_plan(df, p: Plan):
    """Select the canonical columns (in canonical order) from ``df`` according to ``p``, and
    add the lineage columns ``pickup_date``, ``source_file`` and ``source_month``.

    ``df`` must have been read from Parquet files so that ``_metadata.file_path`` exists.
    """
    from pyspark.sql import functions as F

    exprs = []
    for cp in p.columns:
        t = cp.target.spark_type
        if cp.source is None:
            exprs.append(F.lit(None).cast(t).alias(cp.target.name))
        else:
            exprs.append(F.col(f"`{cp.source}`").cast(t).alias(cp.target.name))
    # Spark reports the path URL-encoded and as file:/x; store the URI as given (file:///x).
    encoded = F.regexp_replace(F.col("_metadata.file_path"), r"\+", "%2B")
    file_path = F.regexp_replace(F.url_decode(encoded), r"^file:/+", "file:///")
    out = df.select(*exprs, file_path.alias("source_file"))
    # source_month comes from the file name (TLC: yellow_tripdata_YYYY-MM.parquet); files named
    # otherwise fall back to the month of each row's pickup.
    name = F.regexp_extract(F.col("source_file"), r"(\d{4})-(\d{2})[^/]*$", 0)
    year = F.regexp_extract(F.col("source_file"), r"(\d{4})-(\d{2})[^/]*$", 1)
    month = F.regexp_extract(F.col("source_file"), r"(\d{4})-(\d{2})[^/]*$", 2)
    named_month = F.when(
        (name != "") & month.cast("int").between(1, 12),
        F.make_date(year.cast("int"), month.cast("int"), F.lit(1)),
    )
    pickup_month = F.trunc(F.col("tpep_pickup_datetime").cast("date"), "month")
    return out.select(
        *CANONICAL_NAMES,
        F.to_date(F.col("tpep_pickup_datetime")).alias("pickup_date"),
        "source_file",
        F.coalesce(named_month, pickup_month).alias("source_month"),
    )
