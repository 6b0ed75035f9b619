"""Shared command-line plumbing: logging, error handling, exit codes, summaries."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from taxi_spark import log as logmod
from taxi_spark.errors import TaxiSparkError, ValidationFailed

EXIT_OK = 0
EXIT_VALIDATION_FAILED = 1
EXIT_USAGE = 2


def new_parser(job: str, doc: str | None, uri_help: str) -> argparse.ArgumentParser:
    """The parser every job starts from: its ``--uri`` plus the common options."""
    parser = argparse.ArgumentParser(
        prog=f"python -m taxi_spark.jobs.{job}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--uri", required=True, help=uri_help)
    parser.add_argument(
        "--run-id",
        default="",
        help="orchestrator run id, attached to BigQuery job labels and logs (e.g. Airflow run_id)",
    )
    parser.add_argument(
        "--summary-out",
        default=None,
        help="also write the JSON summary to this local path (e.g. /airflow/xcom/return.json)",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    return parser


def write_summary(summary: dict, path: str | None) -> None:
    text = json.dumps(summary, default=str, sort_keys=True)
    print(text)
    if path:
        with open(path, "w") as fh:
            fh.write(text + "\n")


def main(
    run: Callable[[argparse.Namespace], int],
    parser: argparse.ArgumentParser,
    argv: list[str] | None = None,
) -> int:
    args = parser.parse_args(argv)
    logmod.configure(args.log_level)
    log = logmod.get_logger(f"taxi_spark.jobs.{parser.prog.rsplit('.', 1)[-1]}")
    try:
        return run(args)
    except ValidationFailed as exc:
        log.error("validation_failed", error=str(exc))
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_VALIDATION_FAILED
    except TaxiSparkError as exc:
        log.error("job_failed", error=str(exc), error_type=type(exc).__name__)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def load_files(job: str, files: list[str], args: argparse.Namespace) -> int:
    """Load ``files`` with the warehouse from ``pipeline-env``, label the run, write the summary.

    Shared by the batch and initial_load jobs so both label their warehouse jobs the same way
    (BigQuery job labels are how cost is attributed to a job and a DAG run).
    """
    from taxi_spark import config, load, session
    from taxi_spark.warehouse import from_config

    cfg = config.load()
    spark = session.build(f"taxi-{job.replace('_', '-')}", cfg.runtime)
    labels = {
        "app": "taxi-platform",
        "component": "spark",
        "job": job,
        "env": cfg.platform_env,
        "run_id": args.run_id or "manual",
    }
    summary = load.run(spark, files, from_config(cfg), job=job, labels=labels)
    write_summary(summary.as_dict(), args.summary_out)
    return EXIT_OK
