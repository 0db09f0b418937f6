"""Semi-parametric models: train an SPM, unlearn by deleting from its memory, retrain oracles."""

from hyperforget.pipelines.semi_parametric.pipeline import create_pipeline

__all__ = ["create_pipeline"]
