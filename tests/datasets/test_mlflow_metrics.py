"""The metrics dataset logs a node's metrics in batches, with the values and steps given."""

from __future__ import annotations

import mlflow
import pytest

from hyperforget.datasets import mlflow_metrics
from hyperforget.datasets.mlflow_metrics import MlflowMetricsBatchDataset


def test_every_metric_is_logged_in_batches_of_at_most_the_limit(tracking, monkeypatch):
    batches = []
    log_batch = mlflow.MlflowClient.log_batch
    monkeypatch.setattr(mlflow_metrics, "MAX_METRICS_PER_BATCH", 40)

    def spy(self, run_id, metrics=(), **kwargs):
        batches.append(len(metrics))
        return log_batch(self, run_id, metrics=metrics, **kwargs)

    monkeypatch.setattr(mlflow.MlflowClient, "log_batch", spy)
    data = {f"m{i}": {"value": i / 10, "step": 0} for i in range(100)}
    data["curve"] = [{"value": 1.0, "step": 0}, {"value": 0.5, "step": 1}]
    with mlflow.start_run() as run:
        MlflowMetricsBatchDataset(prefix="stage").save(data)
    assert batches == [40, 40, 22]
    logged = tracking.get_run(run.info.run_id).data.metrics
    assert len(logged) == 101 and logged["stage.m7"] == pytest.approx(0.7)
    history = tracking.get_metric_history(run.info.run_id, "stage.curve")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5)]
