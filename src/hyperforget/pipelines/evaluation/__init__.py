"""Evaluation: every metric of every method and forget scenario against the retrain oracle."""

from hyperforget.pipelines.evaluation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
