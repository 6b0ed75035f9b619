"""Train the fare model with a bounded hyperparameter search and register it in MLflow.

    python -m taxi_ml.train [--from-scratch] [--max-trials N] [--from YYYY-MM --to YYYY-MM]

Reads ``<BQ_DATASET_MARTS>.fare_features`` (months ``--from``..``--to``, default everything),
holds out the latest ``--holdout-fraction`` of rows by pickup date, fits up to ``--max-trials``
candidate hyperparameter sets (the defaults first, then seeded random draws; one nested MLflow
run each) and keeps the best by holdout RMSE. The best model must beat the baseline (predicting
the training mean) or the job exits 1 without registering it. Otherwise it logs params, metrics,
plots and the model (signature + input example), registers a new version of ``MODEL_NAME`` and
sets the ``champion`` alias when there is none, or always with ``--from-scratch`` (the full
refresh: all history was reloaded, the new model replaces the champion). Decision and metric
values go to the JSON summary (last stdout line) and to MLflow tags.
"""

from __future__ import annotations

import argparse
import sys

from taxi_ml import _cli, config, data, features, modeling, registry
from taxi_ml.errors import ConfigError, DataError
from taxi_ml.log import get_logger

log = get_logger("taxi_ml.train")  # not __name__: it is __main__ under python -m


def parser() -> argparse.ArgumentParser:
    p = _cli.new_parser("train", __doc__)
    p.add_argument("--from", dest="from_month", metavar="YYYY-MM", help="first pickup month")
    p.add_argument("--to", dest="to_month", metavar="YYYY-MM", help="last pickup month")
    p.add_argument(
        "--from-scratch",
        action="store_true",
        help="make the new version champion even when one exists (full refresh)",
    )
    p.add_argument(
        "--max-trials", type=int, default=8, help="hyperparameter sets to try (1-50, default 8)"
    )
    p.add_argument(
        "--holdout-fraction",
        type=float,
        default=0.2,
        help="latest share of rows (whole days) held out for model selection (default 0.2)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    import mlflow

    if not 1 <= args.max_trials <= 50:
        raise ConfigError(f"--max-trials {args.max_trials} must be between 1 and 50.")
    months = data.MonthRange(
        data.parse_month(args.from_month, "--from") if args.from_month else None,
        data.parse_month(args.to_month, "--to") if args.to_month else None,
    )
    if months.first and months.last and months.first > months.last:
        raise ConfigError(f"--from {args.from_month} is after --to {args.to_month}.")
    fixed = _cli.parse_params(args.param)
    cfg = config.load()
    name = cfg.tracking.model_name

    client = registry.connect(cfg.tracking)
    if args.run_id and (
        done := registry.version_of_orchestrator_run(client, cfg.tracking, "train", args.run_id)
    ):
        return _cli.reuse(cfg, client, args, done, "train")
    df = data.load_features(cfg, months, args.max_rows)
    if len(df) < args.min_rows:
        raise DataError(
            f"fare_features has {len(df)} rows for months {months.describe()}; training needs at "
            f"least --min-rows {args.min_rows}. Load more months or lower --min-rows."
        )
    train, holdout = features.time_split(df, args.holdout_fraction)
    previous = registry.champion(client, name)
    data_months = f"{df['pickup_month'].min():%Y-%m}..{df['pickup_month'].max():%Y-%m}"
    tags = {
        registry.JOB_TAG: "train",
        "taxi.run_id": args.run_id or "manual",
        "platform_env": cfg.platform_env,
        "from_scratch": str(args.from_scratch).lower(),
    }
    with mlflow.start_run(run_name=f"train-{args.run_id or 'manual'}", tags=tags) as run:
        run_id = run.info.run_id
        mlflow.log_params(
            {
                "data_months": data_months,
                "holdout_from": f"{holdout['pickup_date'].min():%Y-%m-%d}",
                "holdout_fraction": args.holdout_fraction,
                "max_trials": args.max_trials,
                "seed": args.seed,
                "warehouse": cfg.warehouse,
                "fixed_params": ",".join(f"{k}={v}" for k, v in fixed.items()) or "none",
            }
        )
        mlflow.log_metrics({"rows_train": len(train), "rows_holdout": len(holdout)})

        def on_trial(trial: modeling.Trial) -> None:
            with mlflow.start_run(
                run_name=f"trial-{trial.number}", nested=True, tags={"trial": "1"}
            ):
                mlflow.log_params(trial.params)
                mlflow.log_metrics(_cli.holdout_metrics("holdout", trial.metrics))
                mlflow.log_metric("fit_seconds", round(trial.fit_seconds, 3))

        trials = modeling.search(
            train, holdout, args.max_trials, args.seed, fixed=fixed, on_trial=on_trial
        )
        best = trials[0]
        baseline = modeling.baseline_metrics(train, holdout)
        _, pred = modeling.evaluate(best.pipeline, holdout)
        metrics = {
            **_cli.holdout_metrics("holdout", best.metrics),
            **_cli.holdout_metrics("baseline", baseline),
        }
        mlflow.log_params(best.params)
        mlflow.log_params({"best_trial": best.number, "trials": len(trials)})
        mlflow.log_metrics(metrics)
        plots = _cli.log_plots(best.pipeline, holdout, pred, args.seed)

        summary = {
            "job": "train",
            "model_name": name,
            "mlflow_run_id": run_id,
            "experiment_id": run.info.experiment_id,
            "data_months": data_months,
            "rows_train": len(train),
            "rows_holdout": len(holdout),
            "trials": len(trials),
            "best_params": best.params,
            "metrics": metrics,
            "previous_champion_version": previous.version if previous else None,
        }
        if best.metrics["rmse"] >= baseline["rmse"]:
            reason = (
                f"holdout RMSE {best.metrics['rmse']:.3f} does not beat the baseline "
                f"{baseline['rmse']:.3f} (predicting the training mean); not registered"
            )
            mlflow.set_tags({"decision": "rejected", "decision_reason": reason})
            summary |= {
                "status": "failed_check",
                "decision": "rejected",
                "decision_reason": reason,
                "model_version": None,
                "champion_version": previous.version if previous else None,
            }
            _cli.write_summary(summary, args.summary_out)
            log.error("check_failed", reason=reason)
            return _cli.EXIT_CHECK_FAILED

        version = registry.log_model(
            best.pipeline, features.to_model_frame(holdout.head(200)), name
        )
        mlflow.set_tag("model_version", version)
        if previous is None:
            decision, reason = "promoted", "no champion yet"
        elif args.from_scratch:
            decision = "promoted"
            reason = f"trained from scratch; replaces champion version {previous.version}"
        else:
            decision = "kept"
            reason = (
                f"champion version {previous.version} exists; retrain challenges it, "
                "--from-scratch replaces it"
            )
        registry.record_decision(
            client,
            name=name,
            version=version,
            run_id=run_id,
            decision=decision,
            reason=reason,
            previous=previous,
            values={"holdout_rmse": round(best.metrics["rmse"], 6)},
        )
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


def main(argv: list[str] | None = None) -> int:
    return _cli.main(run, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
