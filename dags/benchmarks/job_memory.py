"""Peak memory of each pipeline job on one monthly file, run exactly as the local runtime runs it.

    cd dags && .venv/bin/python benchmarks/job_memory.py --landing /tmp/size/landing \\
        --month 2024-01 --work /tmp/size [--jobs copy_to_staging validate load ...]

Each job's command line comes from its rendered Job / SparkApplication
(:func:`common.runners.local_invocation`: the one entrypoint of both runtimes), run on a local
DuckDB warehouse and a SQLite MLflow store below ``--work``. The process tree's resident memory
is sampled every 0.2 s; the script prints per job the peak of the whole tree and of its largest
process (the Spark JVM, or Python), next to the wall time. A script that prints figures, not a
test. Generate a real-size month first, e.g. 3M rows:
``cd spark && PYTHONPATH=src:../libs/python .venv/bin/python -m taxi_spark.testdata
--out file:///tmp/size/landing/ --months 2024-01 --rows 3000000``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import datasets, jobs, runners

MIB = 1024 * 1024


def sample(proc: subprocess.Popen, peaks: dict[str, int], stop: threading.Event) -> None:
    root = psutil.Process(proc.pid)
    while not stop.is_set():
        try:
            tree = [root, *root.children(recursive=True)]
            rss = []
            for p in tree:
                with contextlib.suppress(psutil.Error):
                    rss.append(p.memory_info().rss)
            peaks["tree"] = max(peaks["tree"], sum(rss))
            peaks["largest"] = max(peaks["largest"], max(rss, default=0))
        except psutil.Error:
            pass
        stop.wait(0.2)


def measure(job: jobs.Job, args: list[str], env: dict[str, str]) -> tuple[int, dict, float]:
    manifest = runners.render(job, args, dag_id="size", run_id="size-run", env=env, local=True)
    argv, cwd, proc_env = runners.local_invocation(job, manifest, base_env=env)
    peaks = {"tree": 0, "largest": 0}
    stop = threading.Event()
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=proc_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    thread = threading.Thread(target=sample, args=(proc, peaks, stop), daemon=True)
    thread.start()
    tail = list(proc.stdout or [])[-5:]
    code = proc.wait()
    stop.set()
    thread.join()
    if code != 0:
        print("".join(tail), file=sys.stderr)
    return code, peaks, time.monotonic() - started


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--landing", required=True, type=Path, help="folder with the monthly file")
    p.add_argument("--month", required=True, help="YYYY-MM of the file")
    p.add_argument("--work", required=True, type=Path, help="scratch folder (staging, warehouse)")
    p.add_argument("--jobs", nargs="*", default=None, help="task ids (default: the batch DAG)")
    p.add_argument("--spark-cores", default="2")
    a = p.parse_args()
    ds = datasets.get("yellow")
    name = f"yellow_tripdata_{a.month}.parquet"
    staged = (a.work / "staging" / "yellow" / name).as_uri()
    env = {
        **os.environ,
        "PLATFORM_RUNTIME": "local",
        "PLATFORM_ENV": "local",
        "WAREHOUSE": "duckdb",
        "WAREHOUSE_PATH": str(a.work / "warehouse.duckdb"),
        "STAGING_URI": (a.work / "staging").as_uri(),
        "DOCS_URI": (a.work / "docs").as_uri(),
        "BQ_DATASET_RAW": "raw",
        "BQ_DATASET_MARTS": "marts",
        "MLFLOW_TRACKING_URI": f"sqlite:///{a.work / 'mlflow.db'}",
        "DBT_TARGET_PATH": str(a.work / "dbt-target"),
        "SPARK_LOCAL_CORES": a.spark_cores,
        "GX_ANALYTICS_ENABLED": "False",
    }
    argv_of = {
        "copy_to_staging": ["--uri", (a.landing / name).as_uri(), "--dest", staged],
        "validate": ["--uri", staged, "--run-id", "size-run"],
        "load": ["--uri", staged, "--run-id", "size-run"],
        "dbt_build": ["build", "--no-unit-tests", "--vars", '{"source_month": "' + a.month + '"}'],
        "retrain": ["--month", a.month, "--run-id", "size-run", "--history-months", "0"],
        "publish_docs": [],
        "train": ["--from-scratch", "--run-id", "size-train", "--max-trials", "1"],
    }
    table = {j.task_id: j for j in (*jobs.batch_jobs(ds), *jobs.full_refresh_jobs(ds))}
    print(f"{'job':16} {'exit':>4} {'tree peak':>10} {'largest':>10} {'seconds':>8}")
    failed = 0
    for task in a.jobs or [j.task_id for j in jobs.batch_jobs(ds)]:
        job = table[task].local or table[task]
        code, peaks, seconds = measure(job, argv_of[task], env)
        failed += code != 0
        tree, largest = peaks["tree"] / MIB, peaks["largest"] / MIB
        print(
            f"{task:16} {code:>4} {tree:>7.0f} MiB {largest:>6.0f} MiB {seconds:>8.1f}", flush=True
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
