"""Unlearning: every registered method forgets every requested class."""

from hyperforget.pipelines.unlearning.pipeline import create_pipeline

__all__ = ["create_pipeline"]
