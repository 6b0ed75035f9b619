"""Structured logging: one JSON object per line on stderr (:mod:`taxi_common.jsonlog`).

Every event has ``ts``, ``level``, ``logger`` and ``event``; keyword arguments become fields.
dbt's own log lines are JSON too (the runner passes ``--log-format json``), on stdout.
"""

from __future__ import annotations

from taxi_common.jsonlog import EventLogger, JsonFormatter, get_logger, route_to_stderr

__all__ = ["EventLogger", "JsonFormatter", "configure", "get_logger"]

_CONFIGURED = False


def configure(level: str = "INFO") -> None:
    """Route the ``taxi_dbt`` loggers to stderr as JSON lines (idempotent)."""
    global _CONFIGURED
    if _CONFIGURED:
        return
    route_to_stderr({"taxi_dbt": level})
    _CONFIGURED = True
