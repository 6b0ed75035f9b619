"""The command-line contract every pipeline job follows (docs/architecture.md#job-cli-contract):

* the last stdout line is the job's JSON summary (the local runner turns it into the task's
  XCom), optionally also written to ``--summary-out``;
* expected failures print ``error: <message>`` on stderr, log one event and exit with the code
  their class maps to (usage errors 2, failed checks 1); anything else is a bug and raises.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_YET = 3  # the input is not available yet (e.g. a month not published): try later
EXIT_UNAVAILABLE = 4  # a source kept failing past the job's own retries and deadline


class _Log(Protocol):
    def error(self, event: str, **fields: Any) -> None: ...


def write_summary(summary: dict, path: str | None) -> None:
    """Print ``summary`` as the last stdout line (and write it to ``path`` when given)."""
    text = json.dumps(summary, default=str, sort_keys=True)
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text + "\n")
    print(text, flush=True)


def main(  # noqa: PLR0913 - keyword-only options of one call
    run: Callable[[argparse.Namespace], int],
    parser: argparse.ArgumentParser,
    argv: list[str] | None,
    *,
    configure: Callable[[str], Any],
    get_logger: Callable[[str], _Log],
    failures: Sequence[tuple[type[BaseException], str, int]],
) -> int:
    """The ``main()`` of every job: parse ``argv``, configure logging at ``--log-level``, run
    ``run`` under :func:`run_job`. The logger is named after the module (``parser.prog`` is
    ``python -m <module>``)."""
    args = parser.parse_args(argv)
    configure(args.log_level)
    log = get_logger(parser.prog.removeprefix("python -m "))
    return run_job(run, args, log, failures)


def run_job(
    run: Callable[[argparse.Namespace], int],
    args: argparse.Namespace,
    log: _Log,
    failures: Sequence[tuple[type[BaseException], str, int]],
) -> int:
    """``run(args)``; an exception of a class in ``failures`` (checked in order) becomes its
    log event and exit code instead of a traceback."""
    try:
        return run(args)
    except tuple(cls for cls, _, _ in failures) as exc:
        _, event, code = next(f for f in failures if isinstance(exc, f[0]))
        log.error(event, error=str(exc), error_type=type(exc).__name__)
        print(f"error: {exc}", file=sys.stderr)
        return code
