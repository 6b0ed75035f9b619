"""Quick interpreter exit for the Python processes `npm start` runs (tools/local/quick-exit.ts).

A Python process that imported Airflow, MLflow, PySpark or Great Expectations holds millions of
objects. At exit the interpreter's finalisation runs full garbage collections over all of them:
measured on a 2-core machine, 1.5-3 s of CPU per process (most of it in the collector), so the
dozen services `npm start` stops at once outlived the grace period and were killed.

Registered first, this exit handler runs last (``atexit`` is last-in, first-out): every other
handler (logging's flush, a connection pool's close) has run with the collector working. It then
moves every object to the permanent generation (``gc.freeze()``), which the finalisation's
collections skip. Nothing else changes: objects are still freed by reference counting as modules
are cleared, exit codes and output are untouched; only cyclic garbage left at exit is not
collected, which the operating system reclaims with the process.

Python imports only the first ``sitecustomize`` on ``sys.path``: this one then imports the next
one, if there is one (a distribution's own, say), so it hides nothing.
"""

from __future__ import annotations

import atexit
import gc
import importlib.machinery
import importlib.util
import os
import sys

atexit.register(gc.freeze)


def _load_next() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)


_load_next()
