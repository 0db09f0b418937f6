"""Kedro datasets of this project (referenced from conf/*/catalog.yml)."""

from hyperforget.datasets.mlflow_metrics import MlflowMetricsBatchDataset
from hyperforget.datasets.published import PublishedDataset
from hyperforget.datasets.raw_images import RawImageDataset
from hyperforget.datasets.safetensors_dataset import SafetensorsDataset

__all__ = ["MlflowMetricsBatchDataset", "PublishedDataset", "RawImageDataset", "SafetensorsDataset"]
