"""Where loads land: BigQuery in the cloud, DuckDB locally, behind one small interface.

Both implementations give the same contract: :meth:`Warehouse.overwrite_partitions` replaces
every partition present in the DataFrame and leaves all other partitions alone, so re-running a
load produces the same table (never rows appended twice). A load also names the source months it
owns (``months``): every partition of those months is replaced, including one the new rows leave
empty — a republished month without bad rows empties that month's quarantine (DuckDB; on
BigQuery the connector cannot write an empty partition, see :class:`BigQueryWarehouse`).

Tables (``<dataset>`` is ``BQ_DATASET_RAW``):

* ``<dataset>.trips`` partitioned by ``pickup_date``;
* ``<dataset>.trips_quarantine`` partitioned by ``source_month`` with a ``reason`` column.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import duckdb

from taxi_spark.config import PlatformConfig
from taxi_spark.errors import ConfigError
from taxi_spark.log import get_logger

log = get_logger(__name__)

TRIPS = "trips"
QUARANTINE = "trips_quarantine"

_DUCKDB_TYPES = {
    "int": "INTEGER",
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "string": "VARCHAR",
    "timestamp_ntz": "TIMESTAMP",
    "date": "DATE",
}


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: dict[str, str]  # column -> Spark type, in table order
    partition_column: str


@dataclass
class WriteResult:
    table: str
    rows: int
    partitions: list[str] = field(default_factory=list)


class Warehouse(ABC):
    @abstractmethod
    def overwrite_partitions(
        self, df, spec: TableSpec, labels: dict[str, str], months: Sequence[date] = ()
    ) -> WriteResult:
        """Replace the partitions of ``spec`` that ``df`` has rows for with ``df``'s rows."""


def _partitions(df, column: str) -> list:
    return sorted(r[0] for r in df.select(column).distinct().collect() if r[0] is not None) + (
        [None] if df.where(df[column].isNull()).limit(1).count() else []
    )


class DuckDBWarehouse(Warehouse):
    """Local warehouse: one DuckDB file, tables in the schema named by ``BQ_DATASET_RAW``.

    Spark writes the rows to a staging Parquet folder next to the database; DuckDB then deletes
    the affected partitions and inserts the staged rows in one transaction, so readers never see
    a half-written partition and a failed run leaves the table as it was.
    """

    def __init__(self, path: str, dataset: str) -> None:
        if path.startswith("file://"):
            path = path[len("file://") :]
        self.path = os.path.abspath(path)
        self.dataset = dataset
        os.makedirs(os.path.dirname(self.path), exist_ok=True)

    def _connect(self):
        return duckdb.connect(self.path)

    def overwrite_partitions(
        self, df, spec: TableSpec, labels: dict[str, str], months: Sequence[date] = ()
    ) -> WriteResult:
        qualified = f'"{self.dataset}"."{spec.name}"'
        staging = tempfile.mkdtemp(prefix=f".staging-{spec.name}-", dir=os.path.dirname(self.path))
        try:
            df.select(*spec.columns).write.mode("overwrite").parquet("file://" + staging)
            files = os.path.join(staging, "*.parquet").replace("'", "''")  # SQL literal
            con = self._connect()
            try:
                rows = con.execute(f"select count(*) from read_parquet('{files}')").fetchone()[0]
                con.execute("begin transaction")
                con.execute(f'create schema if not exists "{self.dataset}"')
                cols = ", ".join(f'"{c}" {_DUCKDB_TYPES[t]}' for c, t in spec.columns.items())
                con.execute(f"create table if not exists {qualified} ({cols})")
                existing = {
                    r[0]
                    for r in con.execute(
                        "select column_name from information_schema.columns "
                        "where table_schema = ? and table_name = ?",
                        [self.dataset, spec.name],
                    ).fetchall()
                }
                for c, t in spec.columns.items():
                    if c not in existing:  # additive schema evolution
                        con.execute(f'alter table {qualified} add column "{c}" {_DUCKDB_TYPES[t]}')
                p = f'"{spec.partition_column}"'
                # The owned months go first: emptied even when no new row falls in them.
                owned = sorted(set(months))
                if owned:
                    marks = ", ".join("?" for _ in owned)
                    con.execute(
                        f"delete from {qualified} where date_trunc('month', {p}) in ({marks})",
                        owned,
                    )
                if rows == 0:  # tables exist (readers such as dbt rely on it); nothing to add
                    con.execute("commit")
                    return WriteResult(qualified, 0, [])
                parts = [
                    r[0]
                    for r in con.execute(
                        f"select distinct {p} from read_parquet('{files}') order by 1"
                    ).fetchall()
                ]
                con.execute(
                    f"delete from {qualified} where {p} in "
                    f"(select distinct {p} from read_parquet('{files}'))"
                    + (f" or {p} is null" if None in parts else "")
                )
                select_cols = ", ".join(f'"{c}"' for c in spec.columns)
                con.execute(
                    f"insert into {qualified} ({select_cols}) "
                    f"select {select_cols} from read_parquet('{files}')"
                )
                con.execute("commit")
            except Exception:
                with contextlib.suppress(duckdb.Error):  # nothing to roll back
                    con.execute("rollback")
                raise
            finally:
                con.close()
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        result = WriteResult(qualified, int(rows), [str(x) for x in parts])
        log.info(
            "partitions_overwritten",
            table=qualified,
            rows=result.rows,
            partitions=len(result.partitions),
            warehouse="duckdb",
            labels=labels,
        )
        return result


_LABEL_RE = re.compile(r"[^a-z0-9_-]")


def bq_label(value: str) -> str:
    """BigQuery label values: lower case, ``[a-z0-9_-]``, at most 63 characters."""
    return _LABEL_RE.sub("_", value.lower())[:63]


class BigQueryWarehouse(Warehouse):
    """Cloud warehouse: the spark-bigquery connector writing ``<project>.<dataset>.<table>``.

    Indirect write through ``temporaryGcsBucket`` (``SPARK_TEMP_BUCKET``) with
    ``spark.sql.sources.partitionOverwriteMode=dynamic``: the connector loads into a temporary
    table and replaces only the partitions present in the data. Every BigQuery job carries the
    given labels (``bigQueryJobLabel.*``) so its cost can be attributed.
    """

    def __init__(self, project: str, dataset: str, temp_bucket: str) -> None:
        self.project = project
        self.dataset = dataset
        self.temp_bucket = temp_bucket.removeprefix("gs://").rstrip("/")

    def options(self, spec: TableSpec, labels: dict[str, str]) -> dict[str, str]:
        """The connector options of a write to ``spec`` (pure: unit-tested offline)."""
        opts = {
            "table": f"{self.project}.{self.dataset}.{spec.name}",
            "writeMethod": "indirect",
            "temporaryGcsBucket": self.temp_bucket,
            "intermediateFormat": "parquet",
            "partitionField": spec.partition_column,
            "partitionType": "DAY" if spec.partition_column == "pickup_date" else "MONTH",
            "createDisposition": "CREATE_IF_NEEDED",
            "allowFieldAddition": "true",
        }
        for key, value in sorted(labels.items()):
            opts[f"bigQueryJobLabel.{bq_label(key)}"] = bq_label(value)
        return opts

    def writer(self, df, spec: TableSpec, labels: dict[str, str]):
        w = df.select(*spec.columns).write.format("bigquery").mode("overwrite")
        for key, value in self.options(spec, labels).items():
            w = w.option(key, value)
        return w

    def overwrite_partitions(
        self, df, spec: TableSpec, labels: dict[str, str], months: Sequence[date] = ()
    ) -> WriteResult:
        spark = df.sparkSession
        if spark.conf.get("spark.sql.sources.partitionOverwriteMode").lower() != "dynamic":
            raise ConfigError(
                "spark.sql.sources.partitionOverwriteMode must be 'dynamic' for BigQuery loads, "
                "otherwise mode('overwrite') would truncate the whole table."
            )
        df = df.persist()
        try:
            rows = df.count()
            parts = [str(p) for p in _partitions(df, spec.partition_column)]
            if rows:
                self.writer(df, spec, labels).save()
        finally:
            df.unpersist()
        table = f"{self.project}.{self.dataset}.{spec.name}"
        covered = {str(p)[:7] for p in parts}
        empty = [m.isoformat()[:7] for m in sorted(set(months)) if m.isoformat()[:7] not in covered]
        if empty:
            # Dynamic partition overwrite replaces only partitions with new rows: an owned
            # month without any keeps what an earlier load wrote there.
            log.warning("owned_months_not_emptied", table=table, months=empty)
        log.info(
            "partitions_overwritten",
            table=table,
            rows=rows,
            partitions=len(parts),
            warehouse="bigquery",
            labels=labels,
        )
        return WriteResult(table, rows, parts)


def from_config(cfg: PlatformConfig) -> Warehouse:
    if cfg.warehouse == "duckdb":
        return DuckDBWarehouse(cfg.warehouse_path, cfg.dataset_raw)
    return BigQueryWarehouse(cfg.gcp_project, cfg.dataset_raw, cfg.spark_temp_bucket)
