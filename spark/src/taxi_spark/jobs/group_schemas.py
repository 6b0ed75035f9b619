"""Print the schema groups of the Parquet files under a URI, from footers only (no Spark).

    python -m taxi_spark.jobs.group_schemas --uri gs://…-staging/trip-data/

Output: one JSON document with each group's key, file count, row count, first file and the
column types Spark will read. Also checks every group against the canonical schema and lists the
conversions the loads will apply, so drift is visible before a load runs.
"""

from __future__ import annotations

import argparse
import sys

from taxi_spark import grouping, uris
from taxi_spark.jobs import _cli


def parser() -> argparse.ArgumentParser:
    p = _cli.new_parser("group_schemas", __doc__, "file or folder URI (file://, gs://, s3://)")
    p.add_argument("--workers", type=int, default=16, help="footer reads in flight (default 16)")
    p.add_argument("--with-files", action="store_true", help="list every file of each group")
    return p


def run(args: argparse.Namespace) -> int:
    files = uris.list_parquet(args.uri)
    groups = grouping.group_files(files, workers=args.workers)
    out = []
    for g in groups:
        d = g.describe()
        plan = grouping.plan_group(g)
        d["conversions"] = {c.target.name: c.note for c in plan.columns if c.note != "same"}
        d["ignored_columns"] = list(plan.ignored)
        if args.with_files:
            d["file_list"] = list(g.files)
        out.append(d)
    _cli.write_summary({"files": len(files), "groups": out}, args.summary_out)
    return _cli.EXIT_OK


def main(argv: list[str] | None = None) -> int:
    return _cli.main(run, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
