"""Structured logging: one JSON object per line on stderr (:mod:`taxi_common.jsonlog`).

Every event has ``ts``, ``level``, ``logger`` and ``event``; keyword arguments become fields, so
log lines can be filtered with ``jq`` or a log query without regexes.
"""

from __future__ import annotations

import os

from taxi_common.jsonlog import EventLogger, JsonFormatter, get_logger, route_to_stderr

__all__ = ["EventLogger", "JsonFormatter", "configure", "get_logger"]

_CONFIGURED = False


def configure(level: str = "INFO", extra_loggers: tuple[str, ...] = ()) -> None:
    """Route the ``taxi_ml`` loggers, MLflow's and ``extra_loggers`` (e.g. uvicorn's) to
    stderr as JSON lines (idempotent)."""
    global _CONFIGURED
    if _CONFIGURED:
        return
    # MLflow installs its own plain-text handler on import unless told not to.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    route_to_stderr({"taxi_ml": level, "mlflow": "WARNING", **dict.fromkeys(extra_loggers, "INFO")})
    _CONFIGURED = True
