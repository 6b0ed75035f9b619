"""Benchmark: the ``validate`` task's fixed cost vs its per-row cost, on a PASSING file.

    .venv/bin/python benchmarks/bench_validation.py [--rows 100000,2000000] [--rounds 1]
        [--baseline main] [--bad-fraction 0]

Writes one TLC-shaped file per size (no bad rows by default, so all 13 expectations pass and the
validation does the work of a good month), then runs the task exactly as a runner does,
``python -m taxi_spark.jobs.validate --uri …`` in a fresh process, and times it from start to
exit. From two sizes it prints the fixed cost per task (the intercept: interpreter, imports,
Spark session, GX context, data docs) and the cost per million rows (the slope), plus the phase
timings the job logs (``validation_finished``). ``--baseline REV`` also runs the job code of that
git revision (``spark/src`` and ``libs/python`` taken with ``git archive``), interleaved with the
current code, so before and after come from the same run. ``--connect-port N`` also starts the
current code's Spark Connect server (``python -m taxi_spark.connect_server``, as ``npm start``
does; its start and warm-up are printed once, not charged to any task) and runs the current
job as its client (``SPARK_REMOTE``), the variant ``connect``: a task with no JVM of its own.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

from _common import machine
from taxi_spark import testdata

SPARK_DIR = Path(__file__).resolve().parents[1]
REPO = SPARK_DIR.parent


def run_job(src: Path, libs: Path, uri: str, docs: str, remote: dict | None = None) -> dict:
    """One validate task in a fresh process: wall seconds, summary, logged phase timings."""
    env = dict(
        os.environ,
        PYTHONPATH=f"{src}{os.pathsep}{libs}",
        PLATFORM_RUNTIME="local",
        GX_ANALYTICS_ENABLED="False",
        DOCS_URI=docs,
    )
    env.pop("SPARK_REMOTE", None)
    env.update(remote or {})
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "taxi_spark.jobs.validate", "--uri", uri],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"validate exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    timings: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        if line.startswith("{") and '"validation_finished"' in line:
            timings = json.loads(line).get("timings", {})
    return {"wall": wall, "summary": summary, "timings": timings}


def start_server(port: int, log: Path) -> tuple[subprocess.Popen, dict, float]:
    """The current code's Connect server on ``port``: (process, client env, start seconds)."""
    token = secrets.token_hex(16)
    env = dict(
        os.environ,
        PYTHONPATH=f"{SPARK_DIR / 'src'}{os.pathsep}{REPO / 'libs' / 'python'}",
        SPARK_CONNECT_AUTHENTICATE_TOKEN=token,
    )
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "taxi_spark.connect_server", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    while '"connect_server_warmed"' not in log.read_text():
        if proc.poll() is not None:
            raise SystemExit(f"the Connect server exited {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.2)
    client = {
        "SPARK_REMOTE": f"sc://localhost:{port}",
        "SPARK_CONNECT_AUTHENTICATE_TOKEN": token,
    }
    return proc, client, time.perf_counter() - start


def checkout(rev: str, dest: Path) -> tuple[Path, Path]:
    """``spark/src`` and ``libs/python`` of ``rev`` under ``dest``."""
    data = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "spark/src", "libs/python"],
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "spark" / "src", dest / "libs" / "python"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="100000,2000000", help="two or more sizes, commas")
    parser.add_argument("--rounds", type=int, default=1, help="runs per size and variant")
    parser.add_argument("--bad-fraction", type=float, default=0.0)
    parser.add_argument("--baseline", default=None, help="git revision to compare with")
    parser.add_argument(
        "--connect-port", type=int, default=None, help="also run as a Spark Connect client"
    )
    args = parser.parse_args()
    sizes = [int(n) for n in args.rows.split(",")]
    if len(sizes) < 2:
        parser.error("--rows needs at least two sizes to separate fixed and per-row cost")

    with tempfile.TemporaryDirectory(prefix="bench-validation-") as tmp:
        files = {}
        for n in sizes:
            path = Path(tmp) / f"landing-{n}" / testdata.file_name(2023, 5)
            gen = testdata.generate_month(2023, 5, n, seed=1, bad_fraction=args.bad_fraction)
            testdata.write_table(gen.table, "file://" + str(path))
            files[n] = "file://" + str(path)
        current = (SPARK_DIR / "src", REPO / "libs" / "python")
        variants: dict[str, tuple[Path, Path, dict | None]] = {"current": (*current, None)}
        if args.baseline:
            variants[f"@{args.baseline}"] = (
                *checkout(args.baseline, Path(tmp) / "baseline"),
                None,
            )
        server, server_seconds = None, 0.0
        if args.connect_port:
            server, client, server_seconds = start_server(
                args.connect_port, Path(tmp) / "connect-server.log"
            )
            variants["connect"] = (*current, client)
        docs = "file://" + str(Path(tmp) / "docs")
        runs: dict[tuple[str, int], list[dict]] = {}
        try:
            for r in range(args.rounds):
                names = list(variants)
                order = names[r % len(names) :] + names[: r % len(names)]  # alternate the first
                for n in sizes:
                    for name in order:
                        src, libs, remote = variants[name]
                        runs.setdefault((name, n), []).append(
                            run_job(src, libs, files[n], docs, remote)
                        )
        finally:
            if server is not None:
                server.terminate()
                server.wait(120)
    report(args, sizes, list(variants), runs, server_seconds)


def report(args, sizes: list[int], variants: list[str], runs: dict, server_seconds: float) -> None:
    print(
        f"machine: {machine()} (shared; other jobs running); Spark local"
        f"[{os.environ.get('SPARK_LOCAL_CORES', '2')}]; {args.rounds} run(s) per size and "
        f"variant, medians; bad fraction {args.bad_fraction}"
    )
    if args.connect_port:
        print(
            f"Spark Connect server (variant connect): started and warmed up in "
            f"{server_seconds:.1f} s, once (npm start pays it while Airflow starts)"
        )
    phases = ["count", "gx_import", "context", "checks", "publish"]
    print(f"\n{'variant':<14}{'rows':>11}{'task wall s':>13}{'checks':>8}  phases (s)")
    for (name, n), results in runs.items():
        wall = statistics.median(x["wall"] for x in results)
        s = results[-1]["summary"]
        passed = f"{len(s['failed_expectations'])} fail"
        t = results[-1]["timings"]
        detail = "  ".join(f"{p} {t[p]:.1f}" for p in phases if p in t) or "(not logged)"
        outside = wall - sum(t.values()) if t else None
        if outside is not None:
            detail += f"  | outside validate() {outside:.1f} (interpreter, imports, session)"
        print(f"{name:<14}{n:>11,}{wall:>13.1f}{passed:>8}  {detail}")
    print()
    lo, hi = sizes[0], sizes[-1]
    for name in variants:
        w_lo = statistics.median(x["wall"] for x in runs[(name, lo)])
        w_hi = statistics.median(x["wall"] for x in runs[(name, hi)])
        per_row = (w_hi - w_lo) / (hi - lo)
        fixed = w_lo - per_row * lo
        print(
            f"{name:<14} fixed cost per task {fixed:5.1f} s   per million rows "
            f"{per_row * 1e6:5.1f} s   ({lo:,} rows {w_lo:.1f} s, {hi:,} rows {w_hi:.1f} s)"
        )


if __name__ == "__main__":
    main()
