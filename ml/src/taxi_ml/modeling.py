"""Fitting, the bounded hyperparameter search, metrics and diagnostic plots."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from taxi_ml import features
from taxi_ml.log import get_logger

log = get_logger(__name__)


@dataclass
class Trial:
    number: int
    params: dict[str, Any]
    metrics: dict[str, float]
    fit_seconds: float
    pipeline: Any = field(repr=False)


def metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """RMSE, MAE (USD), R² and MAPE (fraction) on the holdout."""
    y_true = np.asarray(y_true, dtype=float)
    err = np.asarray(y_pred, dtype=float) - y_true
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "r2": float(1 - np.sum(err**2) / ss_tot) if ss_tot > 0 else 0.0,
        "mape": float(np.mean(np.abs(err) / np.maximum(np.abs(y_true), 1e-9))),
    }


def baseline_metrics(train: pd.DataFrame, holdout: pd.DataFrame) -> dict[str, float]:
    """Metrics of predicting the training mean: the floor every model must beat."""
    mean = float(train[features.TARGET].mean())
    return metrics(holdout[features.TARGET], np.full(len(holdout), mean))


def fit(train: pd.DataFrame, params: dict[str, Any], seed: int):
    pipeline = features.build_pipeline(params, seed)
    pipeline.fit(features.to_model_frame(train), train[features.TARGET].to_numpy(dtype=float))
    return pipeline


def evaluate(pipeline, holdout: pd.DataFrame) -> tuple[dict[str, float], np.ndarray]:
    pred = np.asarray(pipeline.predict(features.to_model_frame(holdout)), dtype=float)
    return metrics(holdout[features.TARGET], pred), pred


def candidate_params(max_trials: int, seed: int, fixed: dict[str, Any]) -> list[dict[str, Any]]:
    """The defaults first, then distinct random draws from the search space (fixed seed).

    ``fixed`` pins parameters (``--param``) in every candidate; fewer than ``max_trials``
    candidates come back when the remaining space is smaller.
    """
    from sklearn.model_selection import ParameterSampler

    space = {k: v for k, v in features.SEARCH_SPACE.items() if k not in fixed}
    first = {**features.DEFAULT_PARAMS, **fixed}
    out, seen = [first], {tuple(sorted(first.items()))}
    size = int(np.prod([len(v) for v in space.values()])) if space else 1
    draws = (
        ParameterSampler(space, n_iter=min(size, max_trials * 3), random_state=seed)
        if space
        else []
    )
    for draw in draws:
        if len(out) >= max_trials:
            break
        cand = {**features.DEFAULT_PARAMS, **draw, **fixed}
        key = tuple(sorted(cand.items()))
        if key not in seen:
            seen.add(key)
            out.append(cand)
    return out[:max_trials]


def search(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    max_trials: int,
    seed: int,
    *,
    fixed: dict[str, Any] | None = None,
    on_trial: Callable[[Trial], None] | None = None,
) -> list[Trial]:
    """Fit one pipeline per candidate, score it on ``holdout``; trials in order of RMSE."""
    trials = []
    for number, params in enumerate(candidate_params(max_trials, seed, fixed or {})):
        started = time.perf_counter()
        pipeline = fit(train, params, seed)
        seconds = time.perf_counter() - started
        scores, _ = evaluate(pipeline, holdout)
        trial = Trial(number, params, scores, seconds, pipeline)
        log.info("trial_done", trial=number, params=params, fit_seconds=round(seconds, 2), **scores)
        if on_trial:
            on_trial(trial)
        trials.append(trial)
    return sorted(trials, key=lambda t: (t.metrics["rmse"], t.number))


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight")
    return buf.getvalue()


def plots(pipeline, holdout: pd.DataFrame, pred: np.ndarray, seed: int) -> dict[str, bytes]:
    """PNG bytes of ``feature_importance``, ``residuals`` and ``predicted_vs_actual``.

    Importance is permutation importance of each raw input column on (a sample of) the
    holdout: how much the RMSE grows when that column is shuffled.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.inspection import permutation_importance

    rng = np.random.default_rng(seed)
    y = holdout[features.TARGET].to_numpy(dtype=float)
    sample = rng.choice(len(holdout), min(len(holdout), 1500), replace=False)
    x_sample = features.to_model_frame(holdout.iloc[sample])
    imp = permutation_importance(
        pipeline,
        x_sample,
        y[sample],
        scoring="neg_root_mean_squared_error",
        n_repeats=2,
        random_state=seed,
    )
    order = np.argsort(imp.importances_mean)
    out: dict[str, bytes] = {}

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.barh(np.array(features.FEATURES)[order], imp.importances_mean[order], color="#3b6ea5")
    ax.set_xlabel("RMSE increase when the column is shuffled (USD)")
    ax.set_title("Feature importance (permutation, holdout)")
    out["feature_importance"] = _png(fig)
    plt.close(fig)

    shown = rng.choice(len(y), min(len(y), 5000), replace=False)
    residual = pred - y
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.scatter(pred[shown], residual[shown], s=3, alpha=0.3, color="#3b6ea5")
    left.axhline(0, color="black", linewidth=0.8)
    left.set_xlabel("predicted fare (USD)")
    left.set_ylabel("predicted − actual (USD)")
    left.set_title("Residuals vs prediction")
    right.hist(np.clip(residual, -30, 30), bins=60, color="#3b6ea5")
    right.set_xlabel("predicted − actual (USD, clipped ±30)")
    right.set_title("Residual distribution")
    out["residuals"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.scatter(y[shown], pred[shown], s=3, alpha=0.3, color="#3b6ea5")
    top = float(np.percentile(np.concatenate([y, pred]), 99.5))
    ax.plot([0, top], [0, top], color="black", linewidth=0.8)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("actual fare (USD)")
    ax.set_ylabel("predicted fare (USD)")
    ax.set_title("Predicted vs actual (holdout)")
    out["predicted_vs_actual"] = _png(fig)
    plt.close(fig)
    return out
