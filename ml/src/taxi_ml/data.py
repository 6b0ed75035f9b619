"""Read the ``fare_features`` table (dbt's marts model) from DuckDB or BigQuery.

Both readers return the same pandas frame: :data:`taxi_ml.features.TABLE_COLUMNS`, rows of the
requested month range, ordered by ``pickup_date, trip_id`` so a run is reproducible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from taxi_ml import features
from taxi_ml.config import MlConfig
from taxi_ml.errors import ConfigError, DataError
from taxi_ml.log import get_logger

TABLE = "fare_features"
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
log = get_logger(__name__)


@dataclass(frozen=True)
class MonthRange:
    """Inclusive range of ``pickup_month`` values (first days of months); None = unbounded."""

    first: date | None = None
    last: date | None = None

    def describe(self) -> str:
        if self.first is None and self.last is None:
            return "all"
        fmt = lambda d: d.strftime("%Y-%m") if d else "…"  # noqa: E731
        return f"{fmt(self.first)}..{fmt(self.last)}"


def parse_month(value: str, arg: str) -> date:
    """``"2025-01"`` → ``date(2025, 1, 1)``; a clear :class:`ConfigError` naming ``arg`` else."""
    match = _MONTH_RE.match(value or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ConfigError(f"{arg}={value!r} is not a month; use YYYY-MM, e.g. {arg} 2025-01.")
    return date(int(match.group(1)), int(match.group(2)), 1)


def add_months(d: date, n: int) -> date:
    index = d.year * 12 + d.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


# Deterministic sample: a row is kept when a hash of its trip_id falls below a threshold, so the
# same rows are chosen on every run and the sample spreads evenly over all months and days.
SAMPLE_BUCKETS = 1_000_000
_HASH = {
    "?": "(hash(trip_id) % 1000000)",  # DuckDB: unsigned 64-bit hash
    "@p": "mod(abs(farm_fingerprint(trip_id)), 1000000)",  # BigQuery
}


def select_sql(
    table: str,
    months: MonthRange,
    placeholder: str,
    *,
    keep_buckets: int | None = None,
    count: bool = False,
) -> tuple[str, list[date]]:
    """The SELECT both warehouses run; ``placeholder`` is ``?`` (DuckDB) or ``@pN`` (BigQuery).
    ``keep_buckets`` (of :data:`SAMPLE_BUCKETS`): only that share of trips, by trip_id hash;
    ``count``: the number of rows instead of the rows."""
    where, params = [], []
    for op, value in ((">=", months.first), ("<=", months.last)):
        if value is not None:
            name = placeholder if placeholder == "?" else f"{placeholder}{len(params)}"
            where.append(f"pickup_month {op} {name}")
            params.append(value)
    if keep_buckets is not None:
        where.append(f"{_HASH[placeholder]} < {int(keep_buckets)}")
    columns = "count(*)" if count else ", ".join(features.TABLE_COLUMNS)
    sql = f"select {columns} from {table}"
    if where:
        sql += " where " + " and ".join(where)
    return (sql if count else sql + " order by pickup_date, trip_id"), params


def sample_buckets(rows: int, max_rows: int | None) -> int | None:
    """How many hash buckets keep about ``max_rows`` of ``rows`` (None: keep everything)."""
    if max_rows is None or rows <= max_rows:
        return None
    return max(1, SAMPLE_BUCKETS * max_rows // rows)


def load_features(cfg: MlConfig, months: MonthRange, max_rows: int | None = None) -> pd.DataFrame:
    """The rows of ``months``; with ``max_rows``, a deterministic sample of about that many
    (counted in the warehouse first, sampled there: memory stays bounded by ``max_rows``
    whatever the history holds)."""
    reader = _load_duckdb if cfg.warehouse == "duckdb" else _load_bigquery
    df = reader(cfg, months, max_rows)
    features.check_columns(df, features.TABLE_COLUMNS, f"{cfg.dataset_marts}.{TABLE}")
    df["pickup_date"] = pd.to_datetime(df["pickup_date"])
    df["pickup_month"] = pd.to_datetime(df["pickup_month"])
    log.info("features_loaded", warehouse=cfg.warehouse, months=months.describe(), rows=len(df))
    return df


def _load_duckdb(cfg: MlConfig, months: MonthRange, max_rows: int | None) -> pd.DataFrame:
    import duckdb

    path = Path(cfg.warehouse_path or "")
    if not path.is_file():
        raise DataError(
            f"WAREHOUSE_PATH={cfg.warehouse_path!r} does not exist; run the Spark load and "
            "dbt build first (they create it)."
        )
    with duckdb.connect(str(path), read_only=True) as con:
        found = con.execute(
            "select count(*) from information_schema.tables"
            " where table_schema = ? and table_name = ?",
            [cfg.dataset_marts, TABLE],
        ).fetchone()
        if not found or found[0] == 0:
            raise DataError(
                f"table {cfg.dataset_marts}.{TABLE} does not exist in {path}; run dbt build "
                "(it creates the marts models), or check BQ_DATASET_MARTS."
            )
        table = f'"{cfg.dataset_marts}".{TABLE}'
        keep = None
        if max_rows is not None:
            sql, params = select_sql(table, months, "?", count=True)
            keep = sample_buckets(con.execute(sql, params).fetchone()[0], max_rows)
        sql, params = select_sql(table, months, "?", keep_buckets=keep)
        if keep is not None:
            log.info("features_sampled", keep_per_million=keep)
        return con.execute(sql, params).df()


def bigquery_client(cfg: MlConfig, credentials=None):
    """The BigQuery client of the ml jobs: the project, and the datasets' location."""
    from google.cloud import bigquery

    return bigquery.Client(
        project=cfg.gcp_project, location=cfg.bq_location, credentials=credentials
    )


def _load_bigquery(cfg: MlConfig, months: MonthRange, max_rows: int | None) -> pd.DataFrame:
    from google.cloud import bigquery

    client = bigquery_client(cfg)
    table = f"`{cfg.gcp_project}.{cfg.dataset_marts}.{TABLE}`"

    def query(sql: str, params: list[date]):
        job_config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter(f"p{i}", "DATE", value)
                for i, value in enumerate(params)
            ],
            labels={"app": "taxi-platform", "component": "ml", "env": cfg.platform_env.lower()},
        )
        return client.query(sql, job_config=job_config)

    keep = None
    if max_rows is not None:
        rows = next(iter(query(*select_sql(table, months, "@p", count=True)).result()))[0]
        keep = sample_buckets(rows, max_rows)
    sql, params = select_sql(table, months, "@p", keep_buckets=keep)
    return query(sql, params).to_arrow().to_pandas()
