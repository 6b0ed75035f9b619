"""Continuous training: challenge the champion with a model trained on the newest month.

    python -m taxi_ml.retrain --month YYYY-MM [--history-months N] [--margin 0.02]

Reads ``fare_features`` for ``--month`` and the ``--history-months`` before it. The latest
``--holdout-fraction`` of the new month's rows (whole days) is the holdout; the challenger is
trained on everything else (history + the start of the new month) with the champion's
hyperparameters (``--param`` overrides them; defaults when there is no champion). Both models
are scored on that same holdout, which neither has seen. The challenger is registered as a new
version either way; the ``champion`` alias moves to it only when its RMSE is lower than the
champion's by at least ``--margin`` (relative, default 2%). With no champion yet the challenger
is promoted if it beats the baseline (else exit 1). The decision and both metric values are in
the JSON summary and tagged on the run and the version.

Champion stability: a re-run whose training rows, holdout rows, hyperparameters and seed are
those of an earlier version (``registry.training_fingerprint``) trains and registers nothing and
keeps the champion (decision ``unchanged``); and a challenger from a month older than the
champion's data (``data_through`` tag) is never promoted: judged on an older month's holdout, a
model of that month's prices beats the current one, so re-delivering old months used to flip
the champion back and forth.
"""

from __future__ import annotations

import argparse
import sys
import threading

import pandas as pd

from taxi_ml import _cli, config, data, features, modeling, registry
from taxi_ml.errors import ConfigError, DataError
from taxi_ml.log import get_logger

log = get_logger("taxi_ml.retrain")  # not __name__: it is __main__ under python -m


def parser() -> argparse.ArgumentParser:
    p = _cli.new_parser("retrain", __doc__)
    p.add_argument("--month", required=True, metavar="YYYY-MM", help="the new pickup month")
    p.add_argument(
        "--history-months",
        type=int,
        default=3,
        help="months before --month added to the training data (0-36, default 3)",
    )
    p.add_argument(
        "--margin",
        type=float,
        default=0.02,
        help="relative RMSE improvement the challenger needs to be promoted (default 0.02)",
    )
    p.add_argument(
        "--holdout-fraction",
        type=float,
        default=0.25,
        help="latest share of the new month's rows (whole days) held out (default 0.25)",
    )
    return p


def champion_params(client, champ: registry.Champion | None) -> tuple[dict, str]:
    if champ is None or champ.run_id is None:
        return dict(features.DEFAULT_PARAMS), "defaults"
    run_params = client.get_run(champ.run_id).data.params
    known = {k: v for k, v in run_params.items() if k in features.DEFAULT_PARAMS}
    return features.params_from_strings(known), f"champion version {champ.version}"


def _import_heavy() -> None:
    try:
        import mlflow  # noqa: F401
        import sklearn.compose
        import sklearn.ensemble
        import sklearn.preprocessing  # noqa: F401
    except Exception:  # noqa: BLE001 - run() imports again and reports the error
        return


def preload() -> threading.Thread:
    """Import MLflow and scikit-learn in the background (issue 26: together seconds of every
    retrain task) while the features are read from the warehouse; ``run()``'s own imports then
    wait for this one (Python's per-module import locks) instead of importing twice."""
    thread = threading.Thread(target=_import_heavy, name="ml-preload", daemon=True)
    thread.start()
    return thread


def run(args: argparse.Namespace) -> int:
    preload()
    month = data.parse_month(args.month, "--month")
    if not 0 <= args.history_months <= 36:
        raise ConfigError(f"--history-months {args.history_months} must be between 0 and 36.")
    if not 0 <= args.margin < 1:
        raise ConfigError(f"--margin {args.margin} must be at least 0 and below 1 (0.02 = 2%).")
    overrides = _cli.parse_params(args.param)
    cfg = config.load()
    name = cfg.tracking.model_name

    months = data.MonthRange(data.add_months(month, -args.history_months), month)
    df = data.load_features(cfg, months, args.max_rows)
    is_new = (df["pickup_month"] == pd.Timestamp(month)).to_numpy()
    if not is_new.any():
        raise DataError(
            f"fare_features has no rows for --month {args.month}; load that month and run "
            "dbt build first."
        )
    new_train, holdout = features.time_split(df[is_new], args.holdout_fraction)
    train = pd.concat([df[~is_new], new_train], ignore_index=True)
    if len(train) < args.min_rows:
        raise DataError(
            f"only {len(train)} training rows for {months.describe()}; retraining needs at least "
            f"--min-rows {args.min_rows}. Raise --history-months or lower --min-rows."
        )

    import mlflow

    client = registry.connect(cfg.tracking)
    if args.run_id and (
        done := registry.version_of_orchestrator_run(client, cfg.tracking, "retrain", args.run_id)
    ):
        return _cli.reuse(cfg, client, args, done, "retrain", month=args.month)
    champ = registry.champion(client, name)
    params, source = champion_params(client, champ)
    params |= overrides
    # Champion stability: a re-run on unchanged data reuses its earlier version (see below).
    fingerprint = registry.training_fingerprint(train, holdout, params, args.seed)
    earlier = registry.version_with_fingerprint(client, name, fingerprint)
    if earlier is not None:
        return unchanged(args, name, client, champ=champ, earlier=earlier, months=months)
    tags = {
        registry.JOB_TAG: "retrain",
        "taxi.run_id": args.run_id or "manual",
        "platform_env": cfg.platform_env,
        "month": args.month,
    }
    with mlflow.start_run(
        run_name=f"retrain-{args.month}-{args.run_id or 'manual'}", tags=tags
    ) as run:
        run_id = run.info.run_id
        mlflow.log_params(
            {
                "data_months": months.describe(),
                "month": args.month,
                "history_months": args.history_months,
                "margin": args.margin,
                "holdout_from": f"{holdout['pickup_date'].min():%Y-%m-%d}",
                "holdout_fraction": args.holdout_fraction,
                "seed": args.seed,
                "params_source": source,
                "warehouse": cfg.warehouse,
                **params,
            }
        )
        mlflow.log_metrics({"rows_train": len(train), "rows_holdout": len(holdout)})
        challenger = modeling.fit(train, params, args.seed)
        scores, pred = modeling.evaluate(challenger, holdout)
        baseline = modeling.baseline_metrics(train, holdout)
        metrics = {
            **_cli.holdout_metrics("holdout", scores),
            **_cli.holdout_metrics("baseline", baseline),
        }
        champion_scores = None
        if champ is not None:
            champion_scores, _ = modeling.evaluate(
                registry.load_version(name, champ.version), holdout
            )
            metrics |= _cli.holdout_metrics("champion", champion_scores)
        mlflow.log_metrics(metrics)
        plots = _cli.log_plots(challenger, holdout, pred, args.seed)

        summary = {
            "job": "retrain",
            "model_name": name,
            "month": args.month,
            "mlflow_run_id": run_id,
            "experiment_id": run.info.experiment_id,
            "data_months": months.describe(),
            "rows_train": len(train),
            "rows_holdout": len(holdout),
            "params": params,
            "params_source": source,
            "margin": args.margin,
            "metrics": metrics,
            "challenger_rmse": round(scores["rmse"], 6),
            "champion_rmse": round(champion_scores["rmse"], 6) if champion_scores else None,
            "previous_champion_version": champ.version if champ else None,
        }
        if champ is None and scores["rmse"] >= baseline["rmse"]:
            reason = (
                f"no champion, and the challenger's holdout RMSE {scores['rmse']:.3f} does not "
                f"beat the baseline {baseline['rmse']:.3f}; not registered"
            )
            mlflow.set_tags({"decision": "rejected", "decision_reason": reason})
            summary |= {
                "status": "failed_check",
                "decision": "rejected",
                "decision_reason": reason,
                "model_version": None,
                "champion_version": None,
            }
            _cli.write_summary(summary, args.summary_out)
            log.error("check_failed", reason=reason)
            return _cli.EXIT_CHECK_FAILED

        version = registry.log_model(challenger, features.to_model_frame(holdout.head(200)), name)
        mlflow.set_tag("model_version", version)
        if champion_scores is None:
            decision, reason = "promoted", "no champion yet"
        else:
            needed = champion_scores["rmse"] * (1 - args.margin)
            improvement = 1 - scores["rmse"] / champion_scores["rmse"]
            summary["improvement"] = round(improvement, 6)
            verdict = (
                f"challenger RMSE {scores['rmse']:.4f} vs champion version {champ.version} "
                f"{champion_scores['rmse']:.4f} ({improvement:+.1%}; margin {args.margin:.1%})"
            )
            decision = "promoted" if scores["rmse"] <= needed else "kept"
            reason = verdict
            newer = registry.data_through(client, name, champ.version) or ""
            if decision == "promoted" and newer > args.month:
                decision = "kept"
                reason = (
                    f"{verdict}; not promoted: champion version {champ.version} was trained on "
                    f"data through {newer}, and a re-delivered older month cannot replace it"
                )
        registry.record_decision(
            client,
            name=name,
            version=version,
            run_id=run_id,
            decision=decision,
            reason=reason,
            previous=champ,
            values={
                "challenger_rmse": summary["challenger_rmse"],
                "champion_rmse": summary["champion_rmse"],
                "margin": args.margin,
            },
        )
        # Last: a version whose decision was not recorded (crash) is never reused as unchanged.
        client.set_model_version_tag(name, version, registry.DATA_THROUGH_TAG, args.month)
        client.set_model_version_tag(name, version, registry.FINGERPRINT_TAG, fingerprint)
    return _cli.finish(
        cfg,
        client,
        name,
        args,
        summary,
        plots=plots,
        decision=decision,
        reason=reason,
        version=version,
    )


def unchanged(args, name: str, client, *, champ, earlier: str, months) -> int:
    """The month was retrained before on the same rows with the same hyperparameters: that
    version was already judged, so nothing is trained or registered and the champion stays."""
    tags = client.get_model_version(name, earlier).tags or {}
    reason = (
        f"same training and holdout rows, hyperparameters and seed as version {earlier} "
        f"(decision then: {tags.get('decision', '?')}); nothing new to judge"
    )
    rmse = tags.get("challenger_rmse")
    summary = {
        "job": "retrain",
        "status": "ok",
        "model_name": name,
        "month": args.month,
        "data_months": months.describe(),
        "decision": "unchanged",
        "decision_reason": reason,
        "model_version": earlier,
        "challenger_rmse": float(rmse) if rmse else None,
        "champion_version": champ.version if champ else None,
        "previous_champion_version": champ.version if champ else None,
    }
    log.info("unchanged", model=name, month=args.month, version=earlier, reason=reason)
    _cli.write_summary(summary, args.summary_out)
    return _cli.EXIT_OK


def main(argv: list[str] | None = None) -> int:
    return _cli.main(run, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
