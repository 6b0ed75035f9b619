"""Structured logging: one JSON object per line on stderr.

Every event has ``ts``, ``level``, ``logger`` and ``event``; the keyword arguments of an
:class:`EventLogger` call become fields, so log lines can be filtered with ``jq`` or a log
query without regexes::

    log = get_logger("taxi_spark.load")
    log.info("files_grouped", groups=3)
    # {"ts": "2024-02-01T10:00:00.000+00:00", "level": "info", "logger": "taxi_spark.load",
    #  "event": "files_grouped", "groups": 3}

Each component's ``log`` module decides which loggers go to stderr (:func:`route_to_stderr`)
and keeps its own "configured once" switch.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, TextIO


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: the four standard keys, the event's fields and,
    when there is one, the formatted exception. Values JSON cannot encode are written with
    ``str()``."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(
                timespec="milliseconds"
            ),
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


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not when the handler was
    made (pytest swaps ``sys.stderr`` per test; a long-lived handler must follow it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def route_to_stderr(levels: Mapping[str, str | int]) -> logging.Handler:
    """Send each named logger to one JSON handler on stderr at its level.

    ``levels`` maps logger names to levels (``{"taxi_ml": "INFO", "mlflow": "WARNING"}``).
    The loggers' previous handlers are replaced and they stop propagating to the root logger,
    so a library's own handler cannot print the same event twice. Returns the handler.
    """
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    for name, level in levels.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    return handler


class EventLogger:
    """``log.info("files_grouped", groups=3)`` instead of formatting strings by hand."""

    def __init__(self, name: str) -> None:
        self._logger = logging.getLogger(name)

    @property
    def name(self) -> str:
        return self._logger.name

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
