"""kedro-mlflow's metrics dataset, logging a node's metrics in one batch.

``MlflowMetricsHistoryDataset`` logs metric by metric, one database transaction each: a run's
2,000-odd metrics cost seconds on the SQLite store. This subclass sends them with
``MlflowClient.log_batch`` (at most ``MAX_METRICS_PER_BATCH`` a call, MLflow's limit); what is
logged, and loading, are unchanged.
"""

from __future__ import annotations

from itertools import chain, islice

import mlflow
from kedro.io.core import DatasetError
from kedro_mlflow.io.metrics import MlflowMetricsHistoryDataset
from mlflow.entities import Metric
from mlflow.utils.time import get_current_time_millis

MAX_METRICS_PER_BATCH = 1000


class MlflowMetricsBatchDataset(MlflowMetricsHistoryDataset):
    def _save(self, data) -> None:
        if not self._logging_activated:
            return
        try:
            run_id = self.run_id
        except DatasetError:  # no run given or active: one is started, as mlflow.log_metric does
            run_id = mlflow.active_run().info.run_id if mlflow.active_run() else None
        if run_id is None:
            run_id = mlflow.start_run().info.run_id
        now = get_current_time_millis()
        metrics = (
            Metric(key, float(value), now, int(step))
            for key, value, step in chain.from_iterable(
                self._build_args_list_from_metric_item(k, v) for k, v in data.items()
            )
        )
        client = mlflow.MlflowClient()
        while batch := list(islice(metrics, MAX_METRICS_PER_BATCH)):
            client.log_batch(run_id, metrics=batch)
