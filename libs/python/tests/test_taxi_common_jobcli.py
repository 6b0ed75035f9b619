"""taxi_common.jobcli: summary as the last stdout line, failures mapped to exit codes."""

from __future__ import annotations

import argparse
import json

import pytest

from taxi_common import jobcli


class UsageError(Exception):
    pass


class CheckError(Exception):
    pass


class Log:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict]] = []

    def error(self, event: str, **fields) -> None:
        self.events.append((event, fields))


FAILURES = [(CheckError, "check_failed", 1), (UsageError, "job_failed", 2)]


def test_summary_is_the_last_stdout_line_and_the_file(tmp_path, capsys):
    out = tmp_path / "deep" / "summary.json"
    jobcli.write_summary({"rows": 3, "month": "2024-01"}, str(out))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == {"month": "2024-01", "rows": 3}
    assert json.loads(out.read_text()) == {"month": "2024-01", "rows": 3}


@pytest.mark.parametrize(
    ("exc", "event", "code"), [(CheckError, "check_failed", 1), (UsageError, "job_failed", 2)]
)
def test_expected_failures_become_an_event_a_message_and_an_exit_code(exc, event, code, capsys):
    log = Log()

    def run(_args):
        raise exc("the month 2024-13 does not exist")

    assert jobcli.run_job(run, argparse.Namespace(), log, FAILURES) == code
    assert log.events == [
        (event, {"error": "the month 2024-13 does not exist", "error_type": exc.__name__})
    ]
    assert capsys.readouterr().err == "error: the month 2024-13 does not exist\n"


def test_success_returns_the_jobs_code_and_bugs_still_raise():
    assert jobcli.run_job(lambda _a: 0, argparse.Namespace(), Log(), FAILURES) == 0

    def buggy(_args):
        raise KeyError("x")

    with pytest.raises(KeyError):
        jobcli.run_job(buggy, argparse.Namespace(), Log(), FAILURES)


def test_main_parses_configures_names_the_logger_and_maps_failures(capsys):
    """The one main() of the spark and ml jobs (issue 18)."""
    seen: dict = {}
    log = Log()
    parser = argparse.ArgumentParser(prog="python -m taxi_x.jobs.thing")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--fail", default="")

    def get_logger(name: str) -> Log:
        seen["logger"] = name
        return log

    def run(args: argparse.Namespace) -> int:
        if args.fail:
            raise UsageError("bad --fail")
        jobcli.write_summary({"ok": True}, None)
        return jobcli.EXIT_OK

    def main(argv):
        return jobcli.main(
            run,
            parser,
            argv,
            configure=lambda level: seen.__setitem__("level", level),
            get_logger=get_logger,
            failures=FAILURES,
        )

    assert main(["--log-level", "DEBUG"]) == 0
    assert seen == {"level": "DEBUG", "logger": "taxi_x.jobs.thing"}
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == {"ok": True}
    assert main(["--fail", "x"]) == 2
    assert log.events[-1][0] == "job_failed"
    assert "error: bad --fail" in capsys.readouterr().err
