"""Helpers shared by the benchmark scripts (not a test module)."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

# Run from spark/ without installing the package (nor the shared taxi_common one).
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "libs" / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


@contextmanager
def timer(results: dict, key: str):
    start = time.perf_counter()
    yield
    results[key] = time.perf_counter() - start


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
