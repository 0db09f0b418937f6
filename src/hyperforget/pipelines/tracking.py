"""What the nodes hand to MLflow: kedro-mlflow's ``MlflowMetricsHistoryDataset`` (the catalog's
``*_metrics`` entries) takes each metric as a value at a step."""

from __future__ import annotations

from collections.abc import Mapping


def mlflow_metrics(values: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """``{name: value}`` as the dataset logs it: every metric once, at step 0."""
    return {name: {"value": float(value), "step": 0} for name, value in values.items()}
