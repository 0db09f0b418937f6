"""What the nodes hand to MLflow: the catalog's ``*_metrics`` entries
(``datasets.MlflowMetricsBatchDataset``, kedro-mlflow's ``MlflowMetricsHistoryDataset`` logging
in batches) take each metric as a value at a step."""

from __future__ import annotations

from collections.abc import Mapping


def mlflow_metrics(values: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """``{name: value}`` as the dataset logs it: every metric once, at step 0."""
    return {name: {"value": float(value), "step": 0} for name, value in values.items()}
