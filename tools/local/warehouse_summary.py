"""Row counts of the local DuckDB warehouse, as one JSON object (used by `npm start`'s summary).

    <dbt or spark venv>/bin/python tools/local/warehouse_summary.py WAREHOUSE_PATH [RAW] [MARTS]

Opens the file read-only. Tables that do not exist are reported as null.
"""

from __future__ import annotations

import json
import sys

import duckdb


def main(argv: list[str]) -> int:
    path = argv[1]
    raw = argv[2] if len(argv) > 2 else "raw"
    marts = argv[3] if len(argv) > 3 else "marts"
    con = duckdb.connect(path, read_only=True)
    existing = {
        f"{schema}.{name}"
        for schema, name in con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
    }

    def count(table: str) -> int | None:
        return (
            con.execute(f"select count(*) from {table}").fetchone()[0]
            if table in existing
            else None
        )

    trips, quarantine = f"{raw}.trips", f"{raw}.trips_quarantine"
    by_month: dict[str, dict[str, int]] = {}
    if trips in existing:
        for month, n in con.execute(
            f"select strftime(source_month, '%Y-%m'), count(*) from {trips} group by 1 order by 1"
        ).fetchall():
            by_month.setdefault(month, {})["loaded"] = n
    if quarantine in existing:
        for month, n in con.execute(
            f"select strftime(source_month, '%Y-%m'), count(*) from {quarantine} group by 1"
        ).fetchall():
            by_month.setdefault(month, {})["quarantined"] = n
    out = {
        "tables": {
            t: count(t)
            for t in (
                trips,
                quarantine,
                f"{marts}.fare_features",
                f"{marts}.borough_monthly_report",
            )
        },
        "by_month": by_month,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
