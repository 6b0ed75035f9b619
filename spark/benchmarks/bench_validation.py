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
``--warm`` (with ``--connect-port``) also starts a warm worker of this venv (``python -m
taxi_common.warmworker``, preloading what ``pyproject.toml`` lists, as ``npm start`` does; its
start is printed once, not charged) and runs the Connect client in a fork of it through the
local runner's client (``dags/common/warm_client.py``), the variant ``warm``.
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


def run_job(  # noqa: PLR0917
    src: Path, libs: Path, uri: str, docs: str, remote: dict | None = None, warm: str | None = None
) -> dict:
    """One validate task in a fresh process (or in a fork of the warm worker at ``warm``):
    wall seconds, summary, logged phase timings."""
    env = dict(
        os.environ,
        PYTHONPATH=f"{src}{os.pathsep}{libs}",
        PLATFORM_RUNTIME="local",
        GX_ANALYTICS_ENABLED="False",
        DOCS_URI=docs,
    )
    env.pop("SPARK_REMOTE", None)
    env.update(remote or {})
    argv = [sys.executable, "-m", "taxi_spark.jobs.validate", "--uri", uri]
    start = time.perf_counter()
    if warm:
        proc = run_in_worker(warm, argv[1:], env)
    else:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"validate exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    timings: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        if line.startswith("{") and '"validation_finished"' in line:
            timings = json.loads(line).get("timings", {})
    return {"wall": wall, "summary": summary, "timings": timings}


def run_in_worker(socket_path: str, argv: list[str], env: dict) -> subprocess.CompletedProcess:
    """``argv`` (without the interpreter) in a fork of the warm worker, as the local runner
    sends it: output collected from the pipes the job writes to."""
    if str(REPO / "dags") not in sys.path:
        sys.path.insert(0, str(REPO / "dags"))
    from common import warm_client

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        job = warm_client.submit(socket_path, argv, str(SPARK_DIR), env, out.fileno(), err.fileno())
        code = job.wait()
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, code, out.read().decode(), err.read().decode())


def start_worker(path: Path, log: Path) -> tuple[subprocess.Popen, float]:
    """A warm worker of this venv on the socket ``path``: (process, start seconds)."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "libs" / "python"))
    start = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "taxi_common.warmworker",
                "--socket",
                str(path),
                "--name",
                "spark",
                "--preload-from",
                str(SPARK_DIR / "pyproject.toml"),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    while not path.exists():
        if proc.poll() is not None:
            raise SystemExit(f"the warm worker exited {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.1)
    return proc, time.perf_counter() - start


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
    parser.add_argument(
        "--warm", action="store_true", help="also run the client in a warm worker's fork"
    )
    args = parser.parse_args()
    if args.warm and not args.connect_port:
        parser.error("--warm needs --connect-port (the warm worker runs the Connect client)")
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
        socket_path = Path(tmp) / "warm.sock"
        if args.baseline:
            variants[f"@{args.baseline}"] = (
                *checkout(args.baseline, Path(tmp) / "baseline"),
                None,
            )
        server, server_seconds, worker, worker_seconds = None, 0.0, None, 0.0
        if args.connect_port:
            server, client, server_seconds = start_server(
                args.connect_port, Path(tmp) / "connect-server.log"
            )
            variants["connect"] = (*current, client)
        if args.warm:
            worker, worker_seconds = start_worker(socket_path, Path(tmp) / "warm-worker.log")
            variants["warm"] = (*current, client)
        docs = "file://" + str(Path(tmp) / "docs")
        runs: dict[tuple[str, int], list[dict]] = {}
        try:
            for r in range(args.rounds):
                names = list(variants)
                order = names[r % len(names) :] + names[: r % len(names)]  # alternate the first
                for n in sizes:
                    for name in order:
                        src, libs, remote = variants[name]
                        warm = str(socket_path) if name == "warm" else None
                        runs.setdefault((name, n), []).append(
                            run_job(src, libs, files[n], docs, remote, warm)
                        )
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(60)
            if server is not None:
                server.terminate()
                server.wait(120)
    report(args, sizes, list(variants), runs, server_seconds, worker_seconds)


def report(  # noqa: PLR0917
    args,
    sizes: list[int],
    variants: list[str],
    runs: dict,
    server_seconds: float,
    worker_seconds: float,
) -> None:
    print(
        f"machine: {machine()}, load average {os.getloadavg()[0]:.1f} at the end; Spark local"
        f"[{os.environ.get('SPARK_LOCAL_CORES', '2')}]; {args.rounds} run(s) per size and "
        f"variant, medians; bad fraction {args.bad_fraction}"
    )
    if args.connect_port:
        print(
            f"Spark Connect server (variant connect): started and warmed up in "
            f"{server_seconds:.1f} s, once (npm start pays it while Airflow starts)"
        )
    if args.warm:
        print(
            f"warm worker (variant warm: a Connect client in a fork of it): ready in "
            f"{worker_seconds:.1f} s, once (npm start pays it while Airflow starts)"
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
