"""Raw images -> normalised, stratified train/val/test splits and a class manifest."""

from hyperforget.pipelines.data_preparation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
