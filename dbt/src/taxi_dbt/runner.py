"""Run the dbt project: what the DAGs call (``build``) and everything a person needs around it.

    python -m taxi_dbt.runner build [--select SEL] [--exclude SEL] [--full-refresh] [--vars JSON]
                                    [--no-unit-tests] [--target duckdb|bigquery] [--deps]
                                    [--seed] [--docs] [--summary-out PATH] [-- <more dbt args>]
    python -m taxi_dbt.runner run|test|seed|compile|parse|debug|deps|docs [same options]
    python -m taxi_dbt.runner dbt -- <any dbt command and args>

``--target`` defaults to ``WAREHOUSE`` (pipeline-env). ``--deps`` installs the hub packages of
packages.yml unless they are already installed (the dbt image installs them at build time;
offline checkouts have no packages.yml). ``--seed`` loads the seeds first (``build`` always
does), ``--docs`` runs ``dbt docs generate --static`` afterwards (``taxi_dbt.publish`` uploads it).
``--no-unit-tests`` leaves dbt's unit tests out of ``build``/``test``: they check the models' SQL
on fixed inputs, so they belong to CI (``npm test`` runs them), not to every monthly run of the
DAG (dbt's own advice for production; on BigQuery each is a query job).

dbt's log lines are JSON on stdout; the last stdout line is this command's JSON summary with the
counts per resource type (models, seeds, data tests, unit tests) and the failed nodes. Exit
codes: 0 all steps succeeded, 1 a model, seed or test failed, 2 bad input (argument, --vars,
environment, or a project dbt could not load).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from typing import Any

from taxi_dbt import config, invoke
from taxi_dbt import log as logmod
from taxi_dbt.errors import ConfigError, TaxiDbtError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

COMMANDS = ("build", "run", "test", "seed", "compile", "parse", "debug", "deps", "docs", "dbt")
# The options that select nodes / change materialisations, per dbt command.
_SELECTING = {"build", "run", "test", "seed", "compile"}

log = logmod.get_logger("taxi_dbt.runner")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m taxi_dbt.runner",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("command", choices=COMMANDS, help="dbt command to run ('dbt' = raw, after --)")
    p.add_argument("--target", choices=config.WAREHOUSES, help="dbt target (default: WAREHOUSE)")
    p.add_argument("--select", "-s", action="append", default=[], help="dbt selector (repeatable)")
    p.add_argument("--exclude", action="append", default=[], help="dbt exclusion (repeatable)")
    p.add_argument("--full-refresh", action="store_true", help="rebuild incremental models/seeds")
    p.add_argument(
        "--no-unit-tests",
        action="store_true",
        help="leave dbt's unit tests out (they run in CI; the DAG's monthly build skips them)",
    )
    p.add_argument(
        "--vars",
        default=None,
        help='JSON object of project vars, e.g. \'{"source_month": "2024-01"}\'',
    )
    p.add_argument("--deps", action="store_true", help="install hub packages first (if missing)")
    p.add_argument("--seed", action="store_true", help="load the seeds before the command")
    p.add_argument("--docs", action="store_true", help="generate the static docs afterwards")
    p.add_argument("--summary-out", default=None, help="also write the JSON summary to this path")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    p.add_argument("extra", nargs="*", help="after --: more dbt arguments, passed through")
    return p


def _parse_vars(text: str | None) -> dict[str, Any] | None:
    if text is None or text.strip() == "":
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"--vars is not valid JSON ({exc.msg} at position {exc.pos}); pass an object, e.g. "
            '--vars \'{"source_month": "2024-01"}\'.'
        ) from exc
    if not isinstance(value, dict):
        raise ConfigError(f"--vars must be a JSON object, got {type(value).__name__}.")
    return value


# Vars that matter only when models run (a macro reads them at execution), passed to dbt as
# environment variables instead of --vars: dbt throws its partial parse away whenever --vars
# change, so a var that changes with every run (the DAG's month) cost a full parse of the
# project per task (issue 26). The macros read `var(name, env_var(ENV))`, so --vars given to
# dbt directly still work.
RUN_TIME_VARS = {"source_month": "TAXI_SOURCE_MONTH"}


def run_time_env(
    dbt_vars: dict[str, Any] | None,
) -> tuple[dict[str, Any] | None, dict[str, str | None]]:
    """``(the vars left for --vars, the environment that carries the run-time vars)``; an
    environment value None means "unset it" (a run without that var)."""
    rest = dict(dbt_vars or {})
    env: dict[str, str | None] = {}
    for name, env_name in RUN_TIME_VARS.items():
        value = rest.pop(name, None)
        env[env_name] = None if value is None else str(value)
    return (rest or None) if dbt_vars is not None else None, env


def _selection(args: argparse.Namespace) -> list[str]:
    """The selection and materialisation options for dbt, where the command takes them."""
    if args.command not in _SELECTING:
        if args.select or args.exclude or args.full_refresh or args.no_unit_tests:
            raise ConfigError(
                "--select/--exclude/--full-refresh/--no-unit-tests do not apply to "
                f"'{args.command}'; they apply to {', '.join(sorted(_SELECTING))}."
            )
        return []
    out: list[str] = []
    for sel in args.select:
        out += ["--select", sel]
    for exc in args.exclude:
        out += ["--exclude", exc]
    if args.full_refresh:
        out.append("--full-refresh")
    if args.no_unit_tests and args.command in ("build", "test"):
        out += ["--exclude-resource-type", "unit_test"]
    return out


def plan(args: argparse.Namespace, dbt_vars: dict[str, Any] | None) -> list[tuple[str, list[str]]]:
    """The dbt invocations to run, in order: (step name, dbt argv)."""
    steps: list[tuple[str, list[str]]] = []
    if args.command == "dbt":
        if not args.extra:
            raise ConfigError(
                "'dbt' needs a dbt command after --, e.g. runner dbt -- ls -s fare_features"
            )
        return [("dbt " + args.extra[0], list(args.extra))]
    common: list[str] = []
    if dbt_vars is not None:
        common += ["--vars", json.dumps(dbt_vars)]
    if args.deps and args.command != "deps":
        steps.append(("deps", ["deps"]))
    # `build` loads the seeds itself (in DAG order); other commands get a seed step first.
    if args.seed and args.command not in ("seed", "deps", "build"):
        steps.append(
            ("seed", ["seed", *common, *(["--full-refresh"] if args.full_refresh else [])])
        )
    main = ["docs", "generate", "--static"] if args.command == "docs" else [args.command]
    main += _selection(args)
    if args.command not in ("deps",):
        main += common
    steps.append((args.command, main + list(args.extra)))
    if args.docs and args.command != "docs":
        steps.append(("docs", ["docs", "generate", "--static", *common]))
    return steps


def _deps_needed() -> tuple[bool, str]:
    wanted = invoke.configured_packages()
    if not wanted:
        return False, "no packages.yml: hub packages are installed by the dbt image build only"
    missing = sorted(set(wanted) - invoke.installed_packages())
    if not missing:
        return False, "all packages already installed: " + ", ".join(sorted(wanted))
    return True, "installing " + ", ".join(missing)


def summarise(
    command: str, cfg: config.DbtConfig | None, steps: list[invoke.StepResult], started: float
) -> dict[str, Any]:
    counts: dict[str, Counter] = {}
    failures: list[dict[str, str]] = []
    for s in steps:
        for rtype, c in s.counts.items():
            counts.setdefault(rtype, Counter()).update(c)
        failures += s.failures

    def pick(rtype: str) -> dict[str, int]:
        return dict(sorted(counts.get(rtype, Counter()).items()))

    return {
        "command": command,
        "target": cfg.warehouse if cfg else None,
        "ok": all(s.ok for s in steps),
        "models": pick("model"),
        "seeds": pick("seed"),
        "tests": pick("test"),
        "unit_tests": pick("unit_test"),
        "failures": failures,
        "steps": [s.as_dict() for s in steps],
        "seconds": round(time.monotonic() - started, 1),
    }


def write_summary(summary: dict[str, Any], path: str | None) -> None:
    text = json.dumps(summary, default=str, sort_keys=True)
    sys.stdout.flush()
    print(text, flush=True)
    if path:
        with open(path, "w") as fh:
            fh.write(text + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options; everything after the first ``--`` is passed to dbt as it is. (argparse
    alone would refuse ``test -s a -- --threads 1``: once an option follows the command, it
    takes the ``--`` part for a second, unknown positional list.)"""
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    args = parser().parse_args(argv)
    args.extra = [*args.extra, *passthrough]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logmod.configure(args.log_level)
    started = time.monotonic()
    try:
        dbt_vars, env = run_time_env(_parse_vars(args.vars))
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        cfg = config.load(target=args.target)
        steps = plan(args, dbt_vars)
    except TaxiDbtError as exc:
        log.error("bad_input", error=str(exc))
        print(f"error: {exc}", file=sys.stderr)
        summary = summarise(args.command, None, [], started)
        summary.update(ok=False, error=str(exc))
        write_summary(summary, args.summary_out)
        return EXIT_USAGE
    log.info(
        "runner_started",
        command=args.command,
        target=cfg.warehouse,
        env=cfg.platform_env,
        runtime=cfg.runtime,
        steps=[name for name, _ in steps],
    )
    results: list[invoke.StepResult] = []
    code = EXIT_OK
    for name, dbt_args in steps:
        if dbt_args[:1] == ["deps"]:
            needed, why = _deps_needed()
            log.info("deps", needed=needed, reason=why)
            if not needed:
                continue
        result = invoke.run(cfg, name, dbt_args)
        results.append(result)
        if not result.ok:
            code = EXIT_USAGE if result.exception else EXIT_FAILED
            break
    summary = summarise(args.command, cfg, results, started)
    write_summary(summary, args.summary_out)
    return code


if __name__ == "__main__":
    sys.exit(main())
