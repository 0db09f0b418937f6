"""Hypernetwork: trains DiHyFo-1 and DiHyFo-2 on the model zoo and checks them on held-out runs."""

from hyperforget.pipelines.hypernetwork.pipeline import create_pipeline

__all__ = ["create_pipeline"]
