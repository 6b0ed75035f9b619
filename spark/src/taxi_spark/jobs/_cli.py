"""Shared command-line plumbing: logging, error handling, exit codes, summaries."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from taxi_common import jobcli
from taxi_common.jobcli import EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, write_summary
from taxi_spark import log as logmod
from taxi_spark.errors import TaxiSparkError, ValidationFailed

EXIT_VALIDATION_FAILED = EXIT_CHECK_FAILED


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


def main(
    run: Callable[[argparse.Namespace], int],
    parser: argparse.ArgumentParser,
    argv: list[str] | None = None,
) -> int:
    return jobcli.main(
        run,
        parser,
        argv,
        configure=logmod.configure,
        get_logger=logmod.get_logger,
        failures=[
            (ValidationFailed, "validation_failed", EXIT_VALIDATION_FAILED),
            (TaxiSparkError, "job_failed", EXIT_USAGE),
        ],
    )


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
