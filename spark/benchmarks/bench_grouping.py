"""Benchmark: schema grouping from Parquet footers vs. a Spark read of each file.

    .venv/bin/python benchmarks/bench_grouping.py --files 100,1000

For each file count N it writes N small TLC-shaped files spread over 2018-2025 (so they fall
into the real drift groups), then, in the same run and on the same files:

* footers: ``taxi_spark.grouping.group_files`` (two ranged reads per file, thread pool);
* spark:   the straightforward approach, ``spark.read.parquet(file).schema`` for every file,
           then grouping by the schema Spark reports.

Both must produce the same groups (checked). Prints seconds, files/s and the ratio. The
SparkSession is started before timing so its start-up is reported separately, not counted.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import machine, timer
from taxi_spark import grouping, session, testdata, uris


def write_files(root: Path, n: int, rows: int) -> list[str]:
    files = []
    months = [(y, m) for y in range(2018, 2026) for m in range(1, 13)]
    for i in range(n):
        y, m = months[i % len(months)]
        gen = testdata.generate_month(y, m, rows, seed=i)
        uri = "file://" + str(root / f"yellow_tripdata_{y:04d}-{m:02d}_{i:05d}.parquet")
        testdata.write_table(gen.table, uri)
        files.append(uri)
    return files


def spark_groups(spark, files: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for f in files:
        schema = spark.read.parquet(uris.to_spark_path(uris.parse(f))).schema
        key = ",".join(sorted(f"{x.name}:{x.dataType.simpleString()}" for x in schema))
        groups.setdefault(key, []).append(f)
    return groups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", default="100,1000", help="comma-separated file counts")
    parser.add_argument("--rows", type=int, default=50, help="rows per file (default 50)")
    parser.add_argument("--workers", type=int, default=16, help="footer threads (default 16)")
    args = parser.parse_args()

    t: dict[str, float] = {}
    with timer(t, "spark_start"):
        spark = session.build("bench-grouping", "local")
        spark.range(1).count()
        # Warm both paths up (JIT, class loading) on files outside the measured sets.
        with tempfile.TemporaryDirectory(prefix="bench-grouping-warmup-") as tmp:
            warm = write_files(Path(tmp), 20, args.rows)
            spark_groups(spark, warm)
            grouping.group_files(warm, workers=args.workers)
    print(
        f"machine: {machine()}; Spark {spark.version} local[2]; "
        f"session start + warm-up {t['spark_start']:.1f}s (not counted)"
    )
    print(
        f"{'files':>6} {'groups':>6} {'footers s':>10} {'footers 1-thread s':>19} "
        f"{'spark s':>9} {'files/s footers':>16} {'files/s spark':>14} {'ratio':>7}"
    )
    for n in [int(x) for x in args.files.split(",")]:
        with tempfile.TemporaryDirectory(prefix="bench-grouping-") as tmp:
            files = write_files(Path(tmp), n, args.rows)
            r: dict[str, float] = {}
            with timer(r, "footers"):
                fg = grouping.group_files(files, workers=args.workers)
            with timer(r, "footers_1"):
                grouping.group_files(files, workers=1)
            with timer(r, "spark"):
                sg = spark_groups(spark, files)
            assert sorted(sorted(g.files) for g in fg) == sorted(sorted(v) for v in sg.values()), (
                "footer grouping and Spark grouping disagree"
            )
            print(
                f"{n:>6} {len(fg):>6} {r['footers']:>10.2f} {r['footers_1']:>19.2f} "
                f"{r['spark']:>9.2f} {n / r['footers']:>16.0f} {n / r['spark']:>14.1f} "
                f"{r['spark'] / r['footers']:>6.0f}x"
            )
    spark.stop()


if __name__ == "__main__":
    main()
