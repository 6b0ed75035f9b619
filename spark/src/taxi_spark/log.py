"""Structured logging: one JSON object per line on stderr (:mod:`taxi_common.jsonlog`).

Every event has ``ts``, ``level``, ``logger`` and ``event``; extra keyword arguments become
fields, so log lines can be filtered with ``jq`` or a log query without regexes.
"""

from __future__ import annotations

import logging

from taxi_common.jsonlog import EventLogger, JsonFormatter, get_logger, route_to_stderr

__all__ = ["EventLogger", "JsonFormatter", "configure", "get_logger"]

_CONFIGURED = False


def configure(level: str = "INFO") -> None:
    """Route the ``taxi_spark`` loggers to stderr as JSON lines (idempotent)."""
    global _CONFIGURED
    if _CONFIGURED:
        return
    route_to_stderr({"taxi_spark": level})
    # py4j logs every gateway round trip at INFO; it drowns the job's own events.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    _CONFIGURED = True
