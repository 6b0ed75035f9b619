"""Fare model of the taxi data platform: train, retrain and serve with MLflow."""

MODEL_ALIAS = "champion"
