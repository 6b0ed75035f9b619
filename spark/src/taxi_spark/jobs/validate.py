"""Validate one monthly file with Great Expectations (the ``batch`` DAG's validate task).

    python -m taxi_spark.jobs.validate --uri gs://…-staging/yellow_tripdata_2023-01.parquet

Casts the file to the canonical schema, runs the expectation suite (YAML, ``${ENV}``
substitution), writes data docs to ``<DOCS_URI>/data-docs/<file name>/`` and exits 1 when the
success percentage is below the threshold (``threshold_pct`` in the YAML or ``--threshold``).
Needs no warehouse settings.
"""

from __future__ import annotations

import argparse
import os
import sys

from taxi_spark import config, load, session, uris, validation
from taxi_spark.errors import ConfigError, ValidationFailed
from taxi_spark.jobs import _cli


def parser() -> argparse.ArgumentParser:
    p = _cli.new_parser("validate", __doc__, "file://, gs:// or s3:// URI of one .parquet file")
    p.add_argument(
        "--expectations",
        default=str(validation.DEFAULT_EXPECTATIONS),
        help="expectations YAML (default: the packaged trips.yaml)",
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="minimum success percentage (overrides threshold_pct in the YAML)",
    )
    p.add_argument(
        "--docs-uri", default=None, help="where data docs go (default: DOCS_URI; 'none' to skip)"
    )
    return p


def run(args: argparse.Namespace) -> int:
    if args.threshold is not None and not 0 <= args.threshold <= 100:
        raise ConfigError(f"--threshold={args.threshold} must be between 0 and 100.")
    spec = validation.load_suite(args.expectations)
    docs_uri = args.docs_uri if args.docs_uri is not None else os.environ.get("DOCS_URI")
    if not docs_uri:
        raise ConfigError(
            "no destination for data docs: pass --docs-uri URI (or --docs-uri none to skip) or "
            "set the environment variable DOCS_URI (pipeline-env ConfigMap)."
        )
    if docs_uri == "none":
        docs_uri = None
    files = [uris.require_file(args.uri, hint=" The validate job checks one file.")]
    runtime = os.environ.get("PLATFORM_RUNTIME", "local")
    if runtime not in config.RUNTIMES:
        raise ConfigError(
            f"environment variable PLATFORM_RUNTIME={runtime!r} is not valid; "
            f"expected one of {', '.join(config.RUNTIMES)}."
        )
    validation.preload()  # GX imports while the JVM starts
    spark = session.build("taxi-validate", runtime)
    df, _ = load.canonical_frame(spark, files)
    name = uris.parse(files[0]).name.removesuffix(".parquet")
    report = validation.validate(
        df,
        spec,
        name=name,
        threshold_pct=args.threshold,
        docs_uri=docs_uri,
        run_name=args.run_id or None,
    )
    summary = {
        "uri": files[0],
        "suite": report.suite,
        "rows": report.rows,
        "success_percent": round(report.success_percent, 2),
        "threshold_pct": report.threshold_pct,
        "passed": report.passed,
        "failed_expectations": report.failed,
        "docs": report.docs_uri,
    }
    _cli.write_summary(summary, args.summary_out)
    if not report.passed:
        raise ValidationFailed(
            f"{files[0]}: {report.success_percent:.1f}% of expectations passed, below the "
            f"threshold of {report.threshold_pct}% ({len(report.failed)} failed: "
            + ", ".join(f"{f['expectation']}({_columns(f['kwargs'])})" for f in report.failed)
            + (f"); see {report.docs_uri}" if report.docs_uri else ")")
        )
    return _cli.EXIT_OK


def _columns(kwargs: dict) -> str:
    if "column" in kwargs:
        return str(kwargs["column"])
    return ", ".join(str(kwargs[k]) for k in ("column_A", "column_B") if k in kwargs)


def main(argv: list[str] | None = None) -> int:
    return _cli.main(run, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
