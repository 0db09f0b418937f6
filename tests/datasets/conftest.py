from __future__ import annotations

import mlflow
import pytest


@pytest.fixture
def tracking(tmp_path):
    """An MLflow client of a fresh database in ``tmp_path``, with its experiment ``datasets``
    active (not one an earlier test of this process made active)."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_experiment("datasets")
    yield mlflow.MlflowClient()
    if mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
