"""The job files run as the cluster runs them: as a script (spark-submit of
``local:///opt/taxi-spark/src/taxi_spark/jobs/<job>.py``), which puts the file's folder first on
``sys.path``. A module there named like a standard-library module (``copy.py``) then shadows it
for every import of the process (pyspark's ``copy.deepcopy`` included)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
LIBS = Path(__file__).resolve().parents[2] / "libs" / "python"
JOBS = SRC / "taxi_spark" / "jobs"
JOB_FILES = sorted(p for p in JOBS.glob("*.py") if not p.name.startswith("_"))


def shadowing(folder: Path) -> list[str]:
    """Modules and packages of ``folder`` whose name is a standard-library module's."""
    names = {p.stem for p in folder.glob("*.py")} | {
        p.name for p in folder.iterdir() if (p / "__init__.py").exists()
    }
    return sorted(n for n in names if n in sys.stdlib_module_names)


@pytest.mark.parametrize(
    "folder", [JOBS, SRC / "taxi_spark", SRC], ids=["jobs", "taxi_spark", "src"]
)
def test_no_module_shadows_the_standard_library(folder):
    assert shadowing(folder) == [], (
        f"{folder}: these names shadow standard-library modules when a file of this folder "
        "runs as a script (spark-submit); rename them"
    )


def test_the_check_sees_a_shadowing_module(tmp_path):
    (tmp_path / "copy.py").write_text("")
    (tmp_path / "load.py").write_text("")
    assert shadowing(tmp_path) == ["copy"]


@pytest.mark.parametrize("job_file", JOB_FILES, ids=lambda p: p.stem)
def test_job_file_runs_as_a_script(job_file):
    """``python <file> --help`` as spark-submit starts it: every import of the job resolves."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{LIBS}"}
    proc = subprocess.run(
        [sys.executable, str(job_file), "--help"],
        capture_output=True,
        text=True,
        env=env,
        cwd=job_file.parent,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--uri" in proc.stdout
