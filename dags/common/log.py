"""Structured task logs: one JSON object per message, through Airflow's task logger.

``event(log, "job_started", job="validate")`` logs ``{"event": "job_started", "job": "validate"}``
so task logs can be filtered with ``jq`` or a log query without regexes. Never pass secrets.
"""

from __future__ import annotations

import json
import logging
from typing import Any


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(f"taxi_dags.{name}")


def event(log: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    log.log(level, json.dumps({"event": name, **fields}, default=str, sort_keys=True))
