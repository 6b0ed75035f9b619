"""Benchmark: training time and validation error of ``taxi_ml.train`` on generated trips.

    .venv/bin/python benchmarks/train_1m.py [--rows 1000000] [--months 6] [--max-trials 3]

Generates ``--rows`` trips (known fare function + σ = 1 USD noise, see taxi_ml.synthetic) into a
temporary DuckDB ``marts.fare_features``, runs the real ``train`` job in-process against a
temporary local MLflow store (SQLite + local artifacts) and prints the figures: wall time of
each phase, fit time of each trial, holdout RMSE / MAE / R² against the baseline, and batch
prediction throughput of the registered model. A script that prints figures, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "libs" / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from taxi_ml import features, synthetic, train


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=6, help="months the rows are spread over")
    parser.add_argument("--max-trials", type=int, default=3)
    args = parser.parse_args()

    months = synthetic.month_range("2024-08", "2025-12")[: args.months]
    per_month = args.rows // len(months)
    omp = os.environ.get("OMP_NUM_THREADS", "unset")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpu(s), load {os.getloadavg()[0]:.1f}, "
        f"Python {platform.python_version()}, OMP_NUM_THREADS={omp}"
    )
    with tempfile.TemporaryDirectory(prefix="taxi-ml-bench-") as tmp:
        t0 = time.perf_counter()
        df = synthetic.fare_features(per_month, months, seed=2025)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        synthetic.write_duckdb(df, Path(tmp) / "warehouse.duckdb")
        t_write = time.perf_counter() - t0
        del df
        os.environ.update(
            {
                "WAREHOUSE": "duckdb",
                "WAREHOUSE_PATH": str(Path(tmp) / "warehouse.duckdb"),
                "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
                "MODEL_NAME": "fare-model-bench",
                "PLATFORM_ENV": "bench",
            }
        )
        os.environ.pop("DOCS_URI", None)
        out = StringIO()
        t0 = time.perf_counter()
        with redirect_stdout(out):
            code = train.main(["--max-trials", str(args.max_trials), "--log-level", "WARNING"])
        t_train = time.perf_counter() - t0
        summary = json.loads(out.getvalue().strip().splitlines()[-1])
        if code != 0:
            print(f"train exited {code}: {summary}")
            return code

        import mlflow
        from mlflow import MlflowClient

        client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
        trials = client.search_runs(
            [summary["experiment_id"]],
            filter_string=f"tags.mlflow.parentRunId = '{summary['mlflow_run_id']}'",
        )
        model = mlflow.pyfunc.load_model("models:/fare-model-bench@champion")
        batch = features.to_model_frame(synthetic.fare_features(100_000, ["2026-01"], seed=1))
        model.predict(batch.head(1000))
        t0 = time.perf_counter()
        model.predict(batch)
        t_pred = time.perf_counter() - t0

    m = summary["metrics"]
    rows = summary["rows_train"] + summary["rows_holdout"]
    print(f"rows: {rows:,} ({summary['rows_train']:,} train, {summary['rows_holdout']:,} holdout)")
    print(f"generate {t_gen:.1f} s · write DuckDB {t_write:.1f} s · train job {t_train:.1f} s")
    for t in sorted(trials, key=lambda r: r.info.run_name):
        p = t.data.params
        print(
            f"  {t.info.run_name}: fit {t.data.metrics['fit_seconds']:.1f} s, holdout RMSE "
            f"{t.data.metrics['holdout_rmse']:.3f} (lr {p['learning_rate']}, max_iter "
            f"{p['max_iter']}, leaves {p['max_leaf_nodes']}, min_leaf {p['min_samples_leaf']}, "
            f"l2 {p['l2_regularization']})"
        )
    print(
        f"best holdout: RMSE {m['holdout_rmse']:.3f} USD, MAE {m['holdout_mae']:.3f} USD, "
        f"R² {m['holdout_r2']:.4f}; baseline RMSE {m['baseline_rmse']:.3f} USD "
        "(noise floor σ = 1.000)"
    )
    print(f"predict 100,000 trips via pyfunc: {t_pred:.2f} s ({100_000 / t_pred:,.0f} rows/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
