"""Complete library configs for unit tests, each from a base recipe with a test's own changes.

The configs have no defaults (the YAML in ``conf/`` is their one source of values), so a unit
test states its whole recipe: these bases, then the fields it is about.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from hyperforget.hypernet.model import DiHyFoConfig
from hyperforget.hypernet.train import HyperTrainConfig
from hyperforget.spm.train import SPMConfig
from hyperforget.zoo.training import SGDConfig

SGD = {
    "lr": 0.1,
    "momentum": 0.9,
    "nesterov": True,
    "weight_decay": 5e-4,
    "batch_size": 128,
    "epochs": 1,
    "min_steps": 0,
}
SPM = {
    "encoder": "mlp",
    "hidden": (256,),
    "embed_dim": 64,
    "mode": "c",
    "epochs": 10,
    "batch_size": 128,
    "support_per_class": 16,
    "lr": 1e-3,
    "neighbours": 32,
    "min_steps": 0,
}
HYPER_TRAIN = {
    "steps": 2000,
    "batch_size": 64,
    "lr": 1e-3,
    "lr_schedule": "constant",
    "weight_decay": 0.0,
    "grad_clip": 1.0,
    "ema_decay": 0.995,
    "permute": True,
    "balance_tensors": True,
    "log_every": 50,
    "regimes": None,
    "precision": "float32",
}
DENOISER = {
    "width": 128,
    "depth": 3,
    "heads": 4,
    "chunk_size": 1000,
    "num_frequencies": 32,
    "max_frequency_log2": 6.0,
    "class_rows": True,
}


def sgd(**changes: Any) -> SGDConfig:
    return SGDConfig(**{**SGD, **changes})


def spm_recipe(**changes: Any) -> SPMConfig:
    return SPMConfig(**{**SPM, **changes})


def hyper_train(**changes: Any) -> HyperTrainConfig:
    return HyperTrainConfig(**{**HYPER_TRAIN, **changes})


def denoiser(variant: str = "dihyfo1", **changes: Any) -> DiHyFoConfig:
    return DiHyFoConfig(variant=variant, **{**DENOISER, **changes})


def unchecked(config: Any, **changes: Any) -> Any:
    """``config`` with ``changes`` past its range checks: values users may not set (e.g. a
    stop_accuracy below any accuracy), so that a stopping rule can never fire."""
    copy = replace(config)
    for name, value in changes.items():
        object.__setattr__(copy, name, value)
    return copy
