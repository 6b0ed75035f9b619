"""Load one monthly file into the warehouse (the ``batch`` DAG's Spark task).

    python -m taxi_spark.jobs.batch --uri gs://…-staging/yellow_tripdata_2023-01.parquet

Reads the file, casts it to the canonical schema, quarantines bad rows and overwrites the
``pickup_date`` partitions it touches in ``<BQ_DATASET_RAW>.trips`` (idempotent: a re-run
replaces, never appends). Warehouse settings come from the environment (``pipeline-env``).
"""

from __future__ import annotations

import argparse
import sys

from taxi_spark import uris
from taxi_spark.jobs import _cli


def parser() -> argparse.ArgumentParser:
    return _cli.new_parser("batch", __doc__, "file://, gs:// or s3:// URI of one .parquet file")


def run(args: argparse.Namespace) -> int:
    files = [
        uris.require_file(
            args.uri,
            hint=" The batch job loads one file; use taxi_spark.jobs.initial_load for a folder.",
        )
    ]
    return _cli.load_files("batch", files, args)


def main(argv: list[str] | None = None) -> int:
    return _cli.main(run, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
