"""Shared fixtures: a generated raw warehouse and ONE dbt build over it for the whole session.

dbt runs for real (DuckDB), through the same CLI the DAGs call, in a subprocess with its own
environment; artifacts, logs and the warehouse live under pytest's tmp_path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import tripgen

DBT_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = DBT_DIR.parent
ROWS_PER_MONTH = 400


@dataclass
class Run:
    code: int
    summary: dict
    stdout: str
    stderr: str


def base_env(tmp: Path, warehouse: Path) -> dict[str, str]:
    """pipeline-env for a local DuckDB run, and dbt's artifacts/logs under ``tmp``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DBT_", "GCP_", "BQ_", "WAREHOUSE", "DOCS_", "PLATFORM_"))
    }
    env.update(
        PLATFORM_ENV="test",
        PLATFORM_RUNTIME="local",
        WAREHOUSE="duckdb",
        WAREHOUSE_PATH=str(warehouse),
        BQ_DATASET_RAW="raw",
        BQ_DATASET_MARTS="marts",
        DBT_TARGET_PATH=str(tmp / "target"),
        DBT_LOG_PATH=str(tmp / "logs"),
        PYTHONPATH=os.pathsep.join([str(DBT_DIR / "src"), str(REPO_ROOT / "libs" / "python")]),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run_module(module: str, args: list[str], env: dict[str, str], timeout: int = 600) -> Run:
    """``python -m <module> <args>`` from the dbt folder, as the DAGs run it."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=DBT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    try:
        summary = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        summary = {}
    return Run(proc.returncode, summary, proc.stdout, proc.stderr)


def describe(run: Run) -> str:
    """Enough of a failed run to debug it from the pytest report."""
    return (
        f"exit {run.code}\nsummary: {json.dumps(run.summary, indent=1)[:3000]}\n"
        f"stderr tail: {run.stderr[-3000:]}"
    )


@dataclass
class Built:
    tmp: Path
    warehouse: Path
    env: dict[str, str]
    rows: list[tuple]
    reference: tripgen.Reference
    first: Run


@pytest.fixture(scope="session")
def built(tmp_path_factory) -> Built:
    """Generated raw trips + a first full ``runner build``."""
    tmp = tmp_path_factory.mktemp("dbt-build")
    warehouse = tmp / "warehouse" / "warehouse.duckdb"
    warehouse.parent.mkdir()
    rows = tripgen.generate(rows_per_month=ROWS_PER_MONTH, seed=11)
    tripgen.write(str(warehouse), rows)
    env = base_env(tmp, warehouse)
    first = run_module("taxi_dbt.runner", ["build"], env)
    yield Built(tmp, warehouse, env, rows, tripgen.reference(rows), first)
    shutil.rmtree(tmp, ignore_errors=True)
