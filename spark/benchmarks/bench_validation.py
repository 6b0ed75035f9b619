"""Benchmark: Great Expectations validation of one large monthly file on local Spark.

    .venv/bin/python benchmarks/bench_validation.py --rows 2000000

Writes one TLC-shaped file of ``--rows`` rows (1% bad rows), then times exactly what the
``validate`` job does after start-up: footer grouping, one Spark read, canonical casts, the
packaged 13-expectation suite on the cached DataFrame, and the data-docs build and copy.
Prints wall time and rows/s. (The project this platform replaces reported 20 minutes for its
validation on a laptop in Spark local mode.)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from _common import machine, timer
from taxi_spark import load, session, testdata, validation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--bad-fraction", type=float, default=0.01)
    args = parser.parse_args()

    t: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-validation-") as tmp:
        path = Path(tmp) / "landing" / testdata.file_name(2023, 5)
        with timer(t, "generate"):
            gen = testdata.generate_month(
                2023, 5, args.rows, seed=1, bad_fraction=args.bad_fraction
            )
            testdata.write_table(gen.table, "file://" + str(path))
        size_mb = path.stat().st_size / 1e6
        with timer(t, "spark_start"):
            spark = session.build("bench-validation", "local")
            spark.range(1).count()
        spec = validation.load_suite(validation.DEFAULT_EXPECTATIONS)
        with timer(t, "validate"):
            df, _ = load.canonical_frame(spark, ["file://" + str(path)])
            report = validation.validate(
                df, spec, name=path.stem, docs_uri="file://" + str(Path(tmp) / "docs")
            )
        spark.stop()
    print(
        f"machine: {machine()}; Spark local[{os.environ.get('SPARK_LOCAL_CORES', '2')}], "
        f"driver memory {os.environ.get('SPARK_DRIVER_MEMORY', '2g')}"
    )
    print(
        f"rows: {report.rows:,}  expectations: {report.evaluated}  "
        f"success: {report.success_percent:.1f}% (threshold {report.threshold_pct}%)"
    )
    print(
        f"generate+write file: {t['generate']:.1f}s   spark start: {t['spark_start']:.1f}s "
        f"(not counted)   file {size_mb:.0f} MB"
    )
    print(
        f"validation wall time: {t['validate']:.1f}s   "
        f"throughput: {report.rows / t['validate']:,.0f} rows/s"
    )
    print(
        json.dumps(
            {
                "rows": report.rows,
                "validate_seconds": round(t["validate"], 2),
                "rows_per_second": round(report.rows / t["validate"]),
                "failed": [f["expectation"] for f in report.failed],
            }
        )
    )


if __name__ == "__main__":
    main()
