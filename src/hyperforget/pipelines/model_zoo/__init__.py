"""Model zoo: batched target-network runs with per-class-loss checkpoints, the original model and
the retrain oracles."""

from hyperforget.pipelines.model_zoo.pipeline import create_pipeline

__all__ = ["create_pipeline"]
