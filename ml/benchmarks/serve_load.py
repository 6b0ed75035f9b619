"""Load figures of the fare API on loopback: single-trip and 1,000-trip requests.

    .venv/bin/python benchmarks/serve_load.py [--connections 10] [--seconds 10] [--batch 1000]
    .venv/bin/python benchmarks/serve_load.py --url http://127.0.0.1:28503   # a running service

Without ``--url`` it trains a model on generated trips into a temporary MLflow store (SQLite),
starts the real service (``python -m taxi_ml.serve``, one uvicorn process, one OpenMP thread)
on a free loopback port with the per-client rate limit off (all load comes from one address),
and stops it afterwards. The load comes from autocannon (``node_modules/.bin/autocannon`` of the
repository), ``--connections`` keep-alive connections for ``--seconds`` per scenario. It prints
requests/s, trips/s, p50/p99 latency and errors (connection errors, timeouts, non-2xx) per
scenario, then one JSON line with the same figures. Client and server share the machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ML = Path(__file__).resolve().parents[1]
ROOT = ML.parent
AUTOCANNON = ROOT / "node_modules" / ".bin" / "autocannon"
TRIP = {
    "pickup_location_id": 161,
    "dropoff_location_id": 236,
    "pickup_borough": "Manhattan",
    "dropoff_borough": "Manhattan",
    "trip_distance": 2.5,
    "pickup_hour": 18,
    "pickup_day_of_week": 3,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def batch_body(n: int) -> dict:
    sys.path[:0] = [str(ML / "src"), str(ROOT / "libs" / "python")]
    from taxi_ml import features, synthetic

    frame = features.to_model_frame(synthetic.fare_features(n, ["2025-03"], seed=5))
    return {"trips": json.loads(frame.head(n).to_json(orient="records"))}


def start_service(tmp: Path) -> tuple[subprocess.Popen, str]:
    """Train a model into a temporary store and start the service on it."""
    env = {
        **os.environ,
        "PYTHONPATH": f"{ML / 'src'}{os.pathsep}{ROOT / 'libs' / 'python'}",
        "WAREHOUSE": "duckdb",
        "WAREHOUSE_PATH": str(tmp / "warehouse.duckdb"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
        "PLATFORM_ENV": "benchmark",
        "PLATFORM_RUNTIME": "local",
        "OMP_NUM_THREADS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    prepare = (
        "from taxi_ml import synthetic; "
        "synthetic.write_duckdb(synthetic.fare_features(5000, ['2025-01', '2025-02'], seed=3), "
        f"{str(tmp / 'warehouse.duckdb')!r})"
    )
    subprocess.run([sys.executable, "-c", prepare], env=env, check=True, cwd=ML)
    train = [sys.executable, "-m", "taxi_ml.train", "--max-trials", "1", "--param", "max_iter=200"]
    subprocess.run(train, env=env, check=True, cwd=ML, stdout=subprocess.DEVNULL)
    port = free_port()
    log = (tmp / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "taxi_ml.serve", "--port", str(port), "--log-level", "WARNING"],
        env={**env, "SERVE_RATE_PER_MINUTE": "0"},
        cwd=ML,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"the service did not start; see {tmp / 'serve.log'}")
        time.sleep(0.5)


def load(url: str, body: dict, connections: int, seconds: int, tmp: Path) -> dict:
    payload = tmp / "body.json"  # a 1,000-trip body is too long for a command-line argument
    payload.write_text(json.dumps(body))
    out = subprocess.run(
        [
            str(AUTOCANNON),
            "--json",
            "--connections",
            str(connections),
            "--duration",
            str(seconds),
            "--timeout",
            "30",
            "--method",
            "POST",
            "--headers",
            "content-type=application/json",
            "--input",
            str(payload),
            f"{url}/predict",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    r = json.loads(out.stdout)
    trips = len(body["trips"])
    return {
        "trips_per_request": trips,
        "requests": r["requests"]["total"],
        "requests_per_s": round(r["requests"]["average"], 1),
        "trips_per_s": round(r["requests"]["average"] * trips, 1),
        "p50_ms": r["latency"]["p50"],
        "p99_ms": r["latency"]["p99"],
        "max_ms": r["latency"]["max"],
        "errors": r["errors"],
        "timeouts": r["timeouts"],
        "non_2xx": r["non2xx"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--url", help="a running service (default: start one on a trained model)")
    p.add_argument("--connections", type=int, default=10)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--batch", type=int, default=1000, help="trips per batch request")
    args = p.parse_args(argv)
    if not AUTOCANNON.exists():
        raise SystemExit(f"{AUTOCANNON} not found: run npm install at the repository root")
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        proc = None
        url = args.url
        if url is None:
            proc, url = start_service(Path(tmp))
        try:
            scenarios = {
                "single trip": {"trips": [TRIP]},
                f"batch of {args.batch}": batch_body(args.batch),
            }
            results = {}
            for name, body in scenarios.items():
                load(url, body, args.connections, 2, Path(tmp))  # warm-up, not reported
                results[name] = load(url, body, args.connections, args.seconds, Path(tmp))
                r = results[name]
                print(
                    f"{name:>16}: {r['requests_per_s']:8.1f} req/s  {r['trips_per_s']:9.1f} trips/s"
                    f"  p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  "
                    f"errors {r['errors']}  timeouts {r['timeouts']}  non-2xx {r['non_2xx']}"
                )
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(30)
    print(
        json.dumps(
            {
                "connections": args.connections,
                "seconds": args.seconds,
                "cpus": os.cpu_count(),
                "load_average": os.getloadavg()[0],
                "results": results,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
