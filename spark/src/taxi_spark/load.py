"""The load pipeline shared by the ``batch`` and ``initial_load`` jobs.

files -> footer schema groups -> one Spark read per group -> canonical schema -> quality rules
-> good rows overwrite their ``pickup_date`` partitions of ``trips``; bad rows overwrite their
``source_month`` partitions of ``trips_quarantine`` with a ``reason``.

Every file's schema is planned against the canonical schema before Spark reads anything, so an
irreconcilable file fails the run up front with its name and the offending column.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import reduce

from taxi_spark import grouping, quality
from taxi_spark import schema as sch
from taxi_spark.log import get_logger
from taxi_spark.warehouse import QUARANTINE, TRIPS, TableSpec, Warehouse

log = get_logger(__name__)

TRIPS_SPEC = TableSpec(TRIPS, sch.trips_types(), "pickup_date")
QUARANTINE_SPEC = TableSpec(QUARANTINE, sch.quarantine_types(), "source_month")


@dataclass
class LoadSummary:
    job: str
    files: int
    groups: int
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    quarantine_by_reason: dict[str, int] = field(default_factory=dict)
    trips_partitions: int = 0
    quarantine_partitions: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def canonical_frame(spark, files: list[str], *, workers: int = 16):
    """All ``files`` as one DataFrame in the canonical schema (+ lineage columns).

    Returns ``(dataframe, groups)``.
    """
    groups = grouping.group_files(files, workers=workers)
    plans = [grouping.plan_group(g) for g in groups]  # fail before any Spark read
    frames = []
    for i, (group, plan) in enumerate(zip(groups, plans, strict=True), start=1):
        casts = {c.target.name: c.note for c in plan.columns if c.note != "same"}
        log.info(
            "group_planned",
            group=i,
            of=len(groups),
            key=group.key,
            files=len(group.files),
            rows=group.num_rows,
            first_file=group.files[0],
            conversions=casts,
            ignored_columns=list(plan.ignored),
        )
        frames.append(sch.apply_plan(grouping.read_group(spark, group), plan))
    df = reduce(lambda a, b: a.unionByName(b), frames)
    return df, groups


def run(
    spark, files: list[str], warehouse: Warehouse, *, job: str, labels: dict[str, str]
) -> LoadSummary:
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    df, groups = canonical_frame(spark, files)
    expected_rows = sum(g.num_rows for g in groups)
    classified = quality.classify(df).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        counts = {r["reason"]: r["count"] for r in classified.groupBy("reason").count().collect()}
        rows_read = sum(counts.values())
        if rows_read != expected_rows:
            raise RuntimeError(
                f"read {rows_read} rows but the footers of the {len(files)} files report "
                f"{expected_rows}; refusing to load a partial read."
            )
        by_reason = {k: counts[k] for k in sorted(k for k in counts if k is not None)}
        log.info(
            "rows_classified",
            rows_read=rows_read,
            rows_good=counts.get(None, 0),
            quarantine_by_reason=by_reason,
        )
        good = classified.where(F.col("reason").isNull())
        bad = classified.where(F.col("reason").isNotNull())
        # The files' months are this load's: a month re-loaded from a corrected file replaces
        # all it had, in both tables, even where the new file has no row (no bad rows left).
        months = [r[0] for r in classified.select("source_month").distinct().collect() if r[0]]
        trips = warehouse.overwrite_partitions(good, TRIPS_SPEC, labels, months)
        quarantined = warehouse.overwrite_partitions(bad, QUARANTINE_SPEC, labels, months)
    finally:
        classified.unpersist()
    summary = LoadSummary(
        job=job,
        files=len(files),
        groups=len(groups),
        rows_read=rows_read,
        rows_loaded=trips.rows,
        rows_quarantined=quarantined.rows,
        quarantine_by_reason=by_reason,
        trips_partitions=len(trips.partitions),
        quarantine_partitions=len(quarantined.partitions),
    )
    log.info("load_finished", **summary.as_dict())
    return summary
