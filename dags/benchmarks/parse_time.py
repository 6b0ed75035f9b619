"""How long Airflow takes to parse each DAG file, next to the time to import Airflow itself.

    cd dags && .venv/bin/python benchmarks/parse_time.py [--repeat 5] [--runtime local kubernetes]

Each figure is the median over ``--repeat`` fresh processes, measured the way the dag-processor
works: Airflow is already imported, then one file is parsed with Airflow's own ``DagBag`` (the
file's module and ``common/`` are imported cold; under ``kubernetes`` the cncf-kubernetes
provider and the Kubernetes client are not imported at all: the tasks import them when they
execute). Next to each parse time: that time as a share of ``import airflow`` (the issue's
baseline, measured in the same run), the resident memory the parse added to the process, and
which Kubernetes modules the parse imported beyond what Airflow had loaded (``none``
expected). A script that prints figures, not a test: nothing asserts on them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DAGS = Path(__file__).resolve().parent.parent
FILES = ("trigger_smoke.py", "batch.py", "full_refresh.py")

IMPORT_PROBE = """
import time
t = time.perf_counter()
import airflow, airflow.sdk
from airflow.dag_processing.dagbag import DagBag
print(time.perf_counter() - t)
"""

PARSE_PROBE = """
import json, sys, time
def rss():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
from airflow.dag_processing.dagbag import DagBag
before = rss()
loaded = set(sys.modules)
t = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
elapsed = time.perf_counter() - t
errors = len(bag.import_errors)
k8s = sorted(m for m in set(sys.modules) - loaded
             if m.startswith(("kubernetes.", "airflow.providers.cncf.kubernetes"))
             or m == "kubernetes")
first = next(iter(bag.import_errors.values()), "").strip().splitlines()
print(json.dumps({"seconds": elapsed, "dags": sorted(bag.dag_ids), "errors": errors,
                  "first_error": first[-1] if first else "",
                  "rss_mib": rss() - before, "k8s": k8s}))
"""


def _run(code: str, args: list[str], env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip().splitlines()[-1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--runtime", nargs="+", default=["local", "kubernetes"])
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="taxi-dags-bench-") as home:
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "PYTHONDONTWRITEBYTECODE": "1",
            "JOBS_NAMESPACE": "jobs",
            # As the dag-processor runs: this folder is the DAGs folder, and on the import path
            # (the DAG files import `common`), whatever the current directory is.
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(DAGS), os.environ.get("PYTHONPATH")])),
        }
        cpus, py = os.cpu_count(), platform.python_version()
        print(f"machine: {platform.machine()}, {cpus} cpus, Python {py}; median of {args.repeat}")
        imports = [float(_run(IMPORT_PROBE, [], env)) for _ in range(args.repeat)]
        base = statistics.median(imports)
        print(f"import airflow (+ DagBag)          {base:6.3f} s  (the baseline: 100 %)")
        for runtime in args.runtime:
            renv = {**env, "PLATFORM_RUNTIME": runtime}
            for name in (*FILES, "."):
                runs = [
                    json.loads(_run(PARSE_PROBE, [str(DAGS / name)], renv))
                    for _ in range(args.repeat)
                ]
                label = "whole DAG folder" if name == "." else name
                seconds = statistics.median(r["seconds"] for r in runs)
                dags = ",".join(runs[0]["dags"])
                errors = runs[0]["errors"]
                if errors:
                    # A file that fails to import parses in no time: its figure would be a lie.
                    sys.exit(
                        f"parse {label} [{runtime}]: {errors} import error(s), no figure printed:"
                        f" {runs[0]['first_error']}"
                    )
                rss = statistics.median(r["rss_mib"] for r in runs)
                k8s = ",".join(runs[0]["k8s"][:4]) or "none"
                if len(runs[0]["k8s"]) > 4:
                    k8s += f",… ({len(runs[0]['k8s'])} modules)"
                head = f"parse {label:<18} [{runtime:<10}]"
                print(
                    f"{head} {seconds:6.3f} s  +{100 * seconds / base:4.1f} % of import airflow"
                    f"  +{rss:5.1f} MiB  k8s modules imported: {k8s}  dags={dags} errors={errors}"
                )


if __name__ == "__main__":
    main()
