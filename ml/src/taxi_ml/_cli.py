"""Shared command-line plumbing of train and retrain: options, exit codes, the common tail
(plots, model logging, decision, report, JSON summary)."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from taxi_common import jobcli
from taxi_common.jobcli import EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, write_summary
from taxi_ml import features, modeling, registry, report
from taxi_ml import log as logmod
from taxi_ml.config import MlConfig
from taxi_ml.errors import CheckFailed, ConfigError, TaxiMlError


def new_parser(job: str, doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m taxi_ml.{job}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="pin a hyperparameter (repeatable), e.g. --param max_iter=300; "
        f"names: {', '.join(features.DEFAULT_PARAMS)}",
    )
    parser.add_argument(
        "--min-rows",
        type=int,
        default=500,
        help="fail with exit 2 when fewer rows are available for training (default 500)",
    )
    parser.add_argument(
        "--max-rows",
        type=int,
        default=2_000_000,
        help="train on a deterministic sample of at most about this many rows (by trip_id "
        "hash, drawn in the warehouse), so memory stays bounded whatever the history holds "
        "(default 2000000; sized in dags/README.md)",
    )
    parser.add_argument(
        "--run-id", default="", help="orchestrator run id (e.g. Airflow run_id), tagged on the run"
    )
    parser.add_argument(
        "--summary-out",
        default=None,
        help="also write the JSON summary to this local path (e.g. /airflow/xcom/return.json)",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    return parser


def parse_params(pairs: list[str]) -> dict[str, Any]:
    raw = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param {pair!r} is not NAME=VALUE, e.g. --param max_iter=300.")
        raw[key.strip()] = value.strip()
    try:
        return features.params_from_strings(raw)
    except TaxiMlError as exc:
        raise ConfigError(f"--param: {exc}") from exc


def main(
    run: Callable[[argparse.Namespace], int],
    parser: argparse.ArgumentParser,
    argv: list[str] | None = None,
) -> int:
    return jobcli.main(
        run,
        parser,
        argv,
        configure=logmod.configure,
        get_logger=logmod.get_logger,
        failures=[
            (TaxiMlError, "job_failed", EXIT_USAGE),
            (CheckFailed, "check_failed", EXIT_CHECK_FAILED),
        ],
    )


def log_plots(pipeline, holdout: pd.DataFrame, pred, seed: int) -> dict[str, bytes]:
    import mlflow

    plots = modeling.plots(pipeline, holdout, pred, seed)
    with tempfile.TemporaryDirectory() as tmp:
        for name, png in plots.items():
            path = Path(tmp) / f"{name}.png"
            path.write_bytes(png)
            mlflow.log_artifact(str(path), artifact_path="plots")
    return plots


def holdout_metrics(prefix: str, values: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": round(v, 6) for k, v in values.items()}


def publish_report(
    cfg: MlConfig, client, summary: dict[str, Any], plots: dict[str, bytes]
) -> str | None:
    if not cfg.docs_uri:
        return None
    return report.publish(
        cfg.docs_uri,
        client=client,
        experiment_id=summary["experiment_id"],
        model_name=cfg.tracking.model_name,
        summary=summary,
        plots=plots,
    )


def current_champion_version(client, name: str) -> str | None:
    champ = registry.champion(client, name)
    return champ.version if champ else None


def finish(cfg, client, name, args, summary, *, plots, decision, reason, version) -> int:
    """Record the decision in the summary, publish the model report, write the summary; exit 0."""
    summary |= {
        "status": "ok",
        "decision": decision,
        "decision_reason": reason,
        "model_version": version,
        "champion_version": current_champion_version(client, name),
    }
    summary["report_uri"] = publish_report(cfg, client, summary, plots)
    write_summary(summary, args.summary_out)
    return EXIT_OK


def reuse(cfg, client, args, version, job: str, **fields: Any) -> int:
    """A retry of an orchestrator run whose ``job`` already registered ``version``: nothing is
    trained or registered again; the decision recorded on the version is reported and the
    model report republished (overwritten, so idempotent too; without plots)."""
    from taxi_ml.log import get_logger

    tags = version.tags or {}
    run = client.get_run(version.run_id)
    get_logger(f"taxi_ml.{job}").info(
        f"{job}_reused", run_id=args.run_id, model_version=version.version
    )
    summary = {
        "job": job,
        "model_name": cfg.tracking.model_name,
        "mlflow_run_id": version.run_id,
        "experiment_id": run.info.experiment_id,
        "reused": True,
        **fields,
    }
    return finish(
        cfg,
        client,
        cfg.tracking.model_name,
        args,
        summary,
        plots={},
        decision=tags.get("decision", "unknown"),
        reason=tags.get("decision_reason", "registered by an earlier try of this run"),
        version=str(version.version),
    )
