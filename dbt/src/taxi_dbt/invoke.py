"""Run dbt commands in-process through dbt's programmatic API (``dbtRunner``) and count results.

Every command runs against this folder's project and profiles.yml with the target chosen by
the config, JSON log lines (``--log-format json``) and no colour. Where dbt writes its
artifacts and logs follows dbt's own ``DBT_TARGET_PATH`` / ``DBT_LOG_PATH`` variables (the image
points them at /tmp so the project folder can stay read-only).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taxi_dbt.config import PROJECT_DIR, DbtConfig
from taxi_dbt.log import get_logger

log = get_logger(__name__)

# Node statuses that make a run fail, per resource type (dbt's RunStatus / TestStatus values).
_FAILED = {"error", "fail", "runtime error"}


@dataclass
class StepResult:
    step: str
    ok: bool
    seconds: float
    counts: dict[str, Counter] = field(default_factory=dict)  # resource type -> status -> n
    failures: list[dict[str, str]] = field(default_factory=list)
    exception: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"step": self.step, "ok": self.ok, "seconds": round(self.seconds, 1)}
        if self.exception:
            out["exception"] = self.exception
        return out


def target_dir() -> Path:
    """Where dbt writes manifest.json, catalog.json and static_index.html."""
    configured = os.environ.get("DBT_TARGET_PATH")
    return Path(configured) if configured else PROJECT_DIR / "target"


def prepare_environment(cfg: DbtConfig) -> None:
    """Export what profiles.yml and the sources read (defaults included) before dbt starts."""
    os.environ.update(cfg.dbt_env())
    os.environ["DBT_PROFILES_DIR"] = str(PROJECT_DIR)


def run(cfg: DbtConfig, step: str, args: list[str]) -> StepResult:
    """``dbt <args>`` against the project; never raises for dbt failures (see StepResult)."""
    from dbt.cli.main import dbtRunner

    prepare_environment(cfg)
    argv = [*args, "--project-dir", str(PROJECT_DIR), "--log-format", "json", "--no-use-colors"]
    if args[:1] not in (["deps"], ["clean"]):  # the commands that need no connection profile
        argv += ["--profiles-dir", str(PROJECT_DIR), "--target", cfg.warehouse]
    log.info("dbt_step_started", step=step, args=" ".join(args), target=cfg.warehouse)
    started = time.monotonic()
    res = dbtRunner().invoke(argv)
    result = StepResult(step=step, ok=bool(res.success), seconds=time.monotonic() - started)
    if res.exception is not None:
        result.ok = False
        result.exception = f"{type(res.exception).__name__}: {res.exception}"
    for node_result in _node_results(res.result):
        node = getattr(node_result, "node", None)
        rtype = str(getattr(getattr(node, "resource_type", None), "value", "other"))
        status = str(getattr(node_result.status, "value", node_result.status)).lower()
        result.counts.setdefault(rtype, Counter())[status] += 1
        if status in _FAILED or (status == "warn" and rtype == "unit_test"):
            result.failures.append(
                {
                    "node": getattr(node, "unique_id", "?"),
                    "status": status,
                    "message": (node_result.message or "")[:500],
                }
            )
    log.info(
        "dbt_step_finished",
        step=step,
        ok=result.ok,
        seconds=round(result.seconds, 1),
        counts={k: dict(v) for k, v in result.counts.items()},
        failures=len(result.failures),
        exception=result.exception,
    )
    return result


def _node_results(result: Any) -> list[Any]:
    # build/run/test/seed return a RunExecutionResult with .results; deps/docs/parse do not.
    results = getattr(result, "results", None)
    return list(results) if isinstance(results, list | tuple) else []


def installed_packages() -> set[str]:
    """Names of the hub packages installed in the project (dbt_packages/<name>)."""
    folder = PROJECT_DIR / "dbt_packages"
    if not folder.is_dir():
        return set()
    return {p.name for p in folder.iterdir() if (p / "dbt_project.yml").is_file()}


def configured_packages() -> list[str]:
    """Names (last path segment) of the packages in packages.yml; empty when there is none."""
    import yaml

    path = PROJECT_DIR / "packages.yml"
    if not path.is_file():
        return []
    doc = yaml.safe_load(path.read_text()) or {}
    names = []
    for entry in doc.get("packages") or []:
        ref = entry.get("package") or entry.get("git") or entry.get("local") or ""
        names.append(ref.rstrip("/").removesuffix(".git").rsplit("/", 1)[-1])
    return names
