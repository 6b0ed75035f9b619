"""taxi_common.jsonlog: the JSON line format, the stderr routing and the event logger."""

from __future__ import annotations

import io
import json
import logging
import sys
from datetime import datetime

import pytest

from taxi_common.jsonlog import EventLogger, JsonFormatter, StderrHandler, route_to_stderr


@pytest.fixture
def fresh_logger():
    """A uniquely named logger, restored afterwards (loggers are process-global)."""
    names: list[str] = []

    def make(name: str) -> logging.Logger:
        names.append(name)
        return logging.getLogger(name)

    yield make
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_formatter_writes_the_four_keys_and_the_fields():
    record = logging.LogRecord(
        "taxi_x.load", logging.WARNING, __file__, 1, "files_grouped", (), None
    )
    record.created = 1_700_000_000.5
    record.fields = {"groups": 3, "when": datetime(2024, 1, 2)}  # type: ignore[attr-defined]
    out = json.loads(JsonFormatter().format(record))
    assert out == {
        "ts": "2023-11-14T22:13:20.500+00:00",
        "level": "warning",
        "logger": "taxi_x.load",
        "event": "files_grouped",
        "groups": 3,
        "when": "2024-01-02 00:00:00",  # not JSON-serialisable: written with str()
    }


def test_formatter_adds_the_exception():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    out = json.loads(JsonFormatter().format(record))
    assert out["event"] == "failed"
    assert "ValueError: boom" in out["exception"]


def test_handler_follows_the_current_stderr(monkeypatch, fresh_logger):
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter())
    logger = fresh_logger("taxi_common_test.follow")
    logger.handlers[:] = [handler]
    logger.propagate = False
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    logger.warning("one")
    monkeypatch.setattr(sys, "stderr", second)
    logger.warning("two")
    assert [e["event"] for e in _lines(first.getvalue())] == ["one"]
    assert [e["event"] for e in _lines(second.getvalue())] == ["two"]


def test_route_sets_levels_and_stops_propagation(monkeypatch, fresh_logger):
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    root_records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            root_records.append(record)

    collect = Collect()
    logging.getLogger().addHandler(collect)
    try:
        app = fresh_logger("taxi_common_test.app")
        lib = fresh_logger("taxi_common_test.lib")
        app.addHandler(logging.StreamHandler(io.StringIO()))  # replaced, not kept
        handler = route_to_stderr({"taxi_common_test.app": "DEBUG", "taxi_common_test.lib": 30})
        assert app.handlers == [handler]
        assert lib.handlers == [handler]
        EventLogger("taxi_common_test.app.jobs").debug("detail", n=1)
        EventLogger("taxi_common_test.lib").info("chatter")  # below WARNING: dropped
        EventLogger("taxi_common_test.lib").warning("careful", why="x")
    finally:
        logging.getLogger().removeHandler(collect)
    events = _lines(stderr.getvalue())
    assert [(e["logger"], e["level"], e["event"]) for e in events] == [
        ("taxi_common_test.app.jobs", "debug", "detail"),
        ("taxi_common_test.lib", "warning", "careful"),
    ]
    assert events[0]["n"] == 1
    assert events[1]["why"] == "x"
    assert root_records == []  # nothing reached the root logger's handlers


def test_event_logger_levels(monkeypatch, fresh_logger):
    stderr = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    fresh_logger("taxi_common_test.levels")
    route_to_stderr({"taxi_common_test.levels": "DEBUG"})
    log = EventLogger("taxi_common_test.levels")
    assert log.name == "taxi_common_test.levels"
    log.debug("d")
    log.info("i", a=1)
    log.warning("w")
    log.error("e", error="bad")
    assert [(e["level"], e["event"]) for e in _lines(stderr.getvalue())] == [
        ("debug", "d"),
        ("info", "i"),
        ("warning", "w"),
        ("error", "e"),
    ]
