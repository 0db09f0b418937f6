"""Kedro datasets of this project (referenced from conf/*/catalog.yml).

Imported on first use (PEP 562): a command that only loads the project's settings, such as
``kedro --version``, does not pay for torch and MLflow."""

from importlib import import_module
from typing import Any

_MODULES = {
    "FigureDataset": "figure_dataset",
    "MlflowMetricsBatchDataset": "mlflow_metrics",
    "PublishedDataset": "published",
    "RawImageDataset": "raw_images",
    "SafetensorsDataset": "safetensors_dataset",
}

__all__ = list(_MODULES)


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_MODULES[name]}"), name)
