"""The model's inputs: which ``fare_features`` columns it takes, their types, the pipeline.

The logged model is a scikit-learn ``Pipeline`` that takes the raw ``fare_features`` columns
(:data:`FEATURES`) and does its own encoding, so the service and any MLflow client can send rows
exactly as dbt produces them:

* pickup/dropoff zone ids (263 values, above the gradient-boosting categorical limit of 255):
  cross-fitted target encoding;
* boroughs, rate code, vendor: ordinal codes handled as native categoricals by
  ``HistGradientBoostingRegressor`` (unseen values → missing);
* distance, hour, day of week, passenger count, weekend/airport flags: as they are.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from taxi_ml.errors import DataError

TARGET = "fare_amount"
ZONES = ["pickup_location_id", "dropoff_location_id"]
CATEGORICAL = ["pickup_borough", "dropoff_borough", "ratecode_id", "vendor_id"]
NUMERIC = ["trip_distance", "pickup_hour", "pickup_day_of_week", "passenger_count"]
FLAGS = ["is_weekend", "is_airport_trip"]
FEATURES = ZONES + CATEGORICAL + NUMERIC + FLAGS

# pandas dtypes of the model input (and of the MLflow signature built from it).
DTYPES: dict[str, str] = {
    "pickup_location_id": "int64",
    "dropoff_location_id": "int64",
    "pickup_borough": "object",
    "dropoff_borough": "object",
    "ratecode_id": "int64",
    "vendor_id": "int64",
    "trip_distance": "float64",
    "pickup_hour": "int64",
    "pickup_day_of_week": "int64",
    "passenger_count": "int64",
    "is_weekend": "bool",
    "is_airport_trip": "bool",
}
# Columns the jobs read from fare_features besides the features.
TABLE_COLUMNS = ["trip_id", "pickup_date", "pickup_month", *FEATURES, TARGET]

# Nulls the contract allows in a nullable column, mapped to a value the model knows as "unknown".
_FILL: dict[str, Any] = {
    "pickup_borough": "Unknown",
    "dropoff_borough": "Unknown",
    "ratecode_id": 99,  # TLC's own "null/unknown" rate code
    "vendor_id": 0,
    "passenger_count": 1,  # the contract: null passenger count is treated as 1
}

# Bounded hyperparameter search space (sampled with a fixed seed).
SEARCH_SPACE: dict[str, list[Any]] = {
    "learning_rate": [0.05, 0.1, 0.2],
    "max_iter": [100, 200, 400],
    "max_leaf_nodes": [15, 31, 63],
    "min_samples_leaf": [20, 50, 200],
    "l2_regularization": [0.0, 0.1, 1.0],
}
DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.1,
    "max_iter": 200,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 20,
    "l2_regularization": 0.0,
}


def check_columns(df: pd.DataFrame, columns: list[str], where: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(
            f"{where} is missing column(s) {', '.join(missing)}; it must follow the fare_features "
            "contract (dbt/ marts model). Rebuild it with dbt build."
        )


def to_model_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The feature columns of ``df`` in model order and dtypes, allowed nulls filled."""
    check_columns(df, FEATURES, "the input")
    out = pd.DataFrame(index=range(len(df)))
    for col in FEATURES:
        values = df[col].reset_index(drop=True)
        if col in _FILL:
            values = values.fillna(_FILL[col])
        if DTYPES[col] == "object":
            out[col] = values.astype(str).astype(object)
        else:
            if values.isna().any():
                raise DataError(
                    f"column {col} has null values; the fare_features contract forbids it."
                )
            out[col] = values.astype(DTYPES[col])
    return out


def params_from_strings(values: dict[str, str]) -> dict[str, Any]:
    """Hyperparameters read back from MLflow params (strings) or ``--param k=v``."""
    out: dict[str, Any] = {}
    for key, raw in values.items():
        if key not in DEFAULT_PARAMS:
            raise DataError(
                f"unknown hyperparameter {key!r}; known: {', '.join(sorted(DEFAULT_PARAMS))}."
            )
        kind = type(DEFAULT_PARAMS[key])
        try:
            out[key] = kind(float(raw)) if kind is int else kind(raw)
        except ValueError as exc:
            what = "an integer" if kind is int else "a number"
            raise DataError(f"hyperparameter {key}={raw!r} is not {what}.") from exc
    return out


def build_pipeline(params: dict[str, Any], seed: int):
    """An unfitted pipeline: encoders + ``HistGradientBoostingRegressor`` with ``params``."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.model_selection import KFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder, TargetEncoder

    encode = ColumnTransformer(
        [
            (
                "zones",
                TargetEncoder(
                    target_type="continuous", cv=KFold(5, shuffle=True, random_state=seed)
                ),
                ZONES,
            ),
            (
                "categories",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                ),
                CATEGORICAL,
            ),
            ("numeric", "passthrough", NUMERIC + FLAGS),
        ],
        verbose_feature_names_out=False,
    )
    n_cat_start = len(ZONES)
    categorical_mask = [
        n_cat_start <= i < n_cat_start + len(CATEGORICAL) for i in range(len(FEATURES))
    ]
    merged = {**DEFAULT_PARAMS, **params}
    model = HistGradientBoostingRegressor(
        loss="squared_error",
        categorical_features=categorical_mask,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        random_state=seed,
        **merged,
    )
    return Pipeline([("encode", encode), ("model", model)])


def time_split(df: pd.DataFrame, holdout_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split by pickup date: the latest ``holdout_fraction`` of rows (whole days) are held out.

    Whole days go to one side so no day is in both; at least one day is on each side.
    """
    if not 0 < holdout_fraction < 1:
        raise DataError(f"holdout fraction {holdout_fraction} must be between 0 and 1.")
    dates = pd.to_datetime(df["pickup_date"])
    days = np.sort(dates.unique())
    if len(days) < 2:
        raise DataError(
            f"the data covers {len(days)} pickup day(s); a time split needs at least 2. "
            "Widen the month range or load more data."
        )
    counts = dates.value_counts().reindex(days).to_numpy()
    share_after = np.cumsum(counts[::-1])[::-1] / counts.sum()  # share of rows on/after day i
    # First day whose rows-on-or-after fit in the holdout fraction; keep ≥1 day on each side.
    candidates = np.nonzero(share_after <= holdout_fraction)[0]
    cut = int(candidates[0]) if len(candidates) else len(days) - 1
    cut = min(max(cut, 1), len(days) - 1)
    is_holdout = (dates >= days[cut]).to_numpy()
    return df[~is_holdout].reset_index(drop=True), df[is_holdout].reset_index(drop=True)
