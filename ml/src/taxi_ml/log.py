"""Structured logging: one JSON object per line on stderr.

Every event has ``ts``, ``level``, ``logger`` and ``event``; keyword arguments become fields, so
log lines can be filtered with ``jq`` or a log query without regexes.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

_CONFIGURED = False


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            payload.update(fields)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (pytest swaps it per test)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure(level: str = "INFO", extra_loggers: tuple[str, ...] = ()) -> None:
    """Route the ``taxi_ml`` loggers, MLflow's and ``extra_loggers`` (e.g. uvicorn's) to
    stderr as JSON lines (idempotent)."""
    global _CONFIGURED
    if _CONFIGURED:
        return
    # MLflow installs its own plain-text handler on import unless told not to.
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    handler = _StderrHandler()
    handler.setFormatter(JsonFormatter())
    targets = [("taxi_ml", level), ("mlflow", "WARNING"), *((n, "INFO") for n in extra_loggers)]
    for name, lvl in targets:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(lvl)
        logger.propagate = False
    _CONFIGURED = True


class EventLogger:
    """``log.info("trial_done", rmse=2.1)`` instead of formatting strings by hand."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    def _log(self, level: int, event: str, fields: dict[str, Any]) -> None:
        self._logger.log(level, event, extra={"fields": fields})

    def debug(self, event: str, **fields: Any) -> None:
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._log(logging.ERROR, event, fields)


def get_logger(name: str) -> EventLogger:
    return EventLogger(name)
