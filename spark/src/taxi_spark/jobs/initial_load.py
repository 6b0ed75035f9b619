"""Load every monthly file under a folder (the ``full_refresh`` DAG's Spark task).

    python -m taxi_spark.jobs.initial_load --uri gs://…-staging/trip-data/ \\
        [--from 2019-01 --to 2023-12]

Lists ``*.parquet`` below ``--uri``, groups the files by schema from their footers, reads each
group in one Spark read, casts to the canonical schema and overwrites every ``pickup_date``
partition the files touch (idempotent). ``--from``/``--to`` select files by the ``YYYY-MM`` in
their names, matching the DAG's ``{"from": …, "to": …}`` conf.
"""

from __future__ import annotations

import argparse
import re
import sys

from taxi_spark import schema, uris
from taxi_spark.errors import ConfigError, UriError
from taxi_spark.jobs import _cli

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _month(value: str | None, flag: str) -> tuple[int, int] | None:
    if value is None:
        return None
    m = _MONTH.match(value)
    if not m:
        raise ConfigError(f"{flag}={value!r} is not a month; use YYYY-MM, e.g. 2023-01.")
    return int(m.group(1)), int(m.group(2))


def select_files(
    files: list[str], start: tuple[int, int] | None, end: tuple[int, int] | None
) -> list[str]:
    if start is None and end is None:
        return files
    chosen = []
    for f in files:
        month = schema.month_from_name(f)
        if month is None:
            continue
        if (start is None or month >= start) and (end is None or month <= end):
            chosen.append(f)
    return chosen


def parser() -> argparse.ArgumentParser:
    p = _cli.new_parser("initial_load", __doc__, "folder URI (file://, gs://, s3://) of the files")
    p.add_argument("--from", dest="start", default=None, help="first month to load, YYYY-MM")
    p.add_argument("--to", dest="end", default=None, help="last month to load, YYYY-MM")
    return p


def run(args: argparse.Namespace) -> int:
    start, end = _month(args.start, "--from"), _month(args.end, "--to")
    if start and end and start > end:
        raise ConfigError(f"--from={args.start} is after --to={args.end}.")
    files = select_files(uris.list_parquet(args.uri), start, end)
    if not files:
        raise UriError(
            f"no *.parquet files named YYYY-MM between --from={args.start} and --to={args.end} "
            f"under --uri={args.uri!r}."
        )
    return _cli.load_files("initial_load", files, args)


def main(argv: list[str] | None = None) -> int:
    return _cli.main(run, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
