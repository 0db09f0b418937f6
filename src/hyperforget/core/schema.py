"""The parameter blocks of the stages (``conf/base/parameters_<stage>.yml``), typed and checked.

Every block a run will read is built from these before its first node (``hooks.py``): a key
no stage knows, a value of the wrong type or outside its range stops the run with one message
naming the parameter, before anything is written. The unlearning methods' blocks are checked by
their own configs (``unlearning.method_config``). Lists given on the command line as strings
(``classes=[0 1]``) are left to the nodes that parse them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hyperforget.core.config import Config, ConfigError, setting


@dataclass(frozen=True, kw_only=True)
class ModelParams(Config):
    kind: str = setting(choices=("mlp",))
    hidden: tuple[int, ...] = setting(ge=1)


@dataclass(frozen=True, kw_only=True)
class SplitParams(Config):
    fractions: dict = setting()
    seed: int = setting(ge=0)
    official_test: bool = setting()


@dataclass(frozen=True, kw_only=True)
class DataPreparationParams(Config):
    classes: Any = setting()  # a list, or its command-line spelling "[0 1 2]"
    subset: int | None = setting(ge=1)
    split: SplitParams = setting()
    normalisation: Any = setting()


@dataclass(frozen=True, kw_only=True)
class ZooTraining(Config):
    lr: float = setting(gt=0.0)
    momentum: float = setting(ge=0.0, lt=1.0)
    nesterov: bool = setting()
    weight_decay: float = setting(ge=0.0)
    batch_size: int = setting(ge=1)
    epochs: int = setting(ge=1)
    min_steps: int = setting(ge=0)


@dataclass(frozen=True, kw_only=True)
class ForgetTraining(Config):
    lr: float = setting(gt=0.0)
    epochs: int = setting(ge=1)
    min_steps: int = setting(ge=0)
    ascent_weight: float = setting(ge=0.0)
    ascent_cap: float = setting(gt=0.0)


@dataclass(frozen=True, kw_only=True)
class LearnRuns(Config):
    runs: int = setting(ge=0)


@dataclass(frozen=True, kw_only=True)
class ClassRuns(Config):
    runs_per_class: int = setting(ge=0)
    classes: Any = setting()  # null (every class) or a list of class labels


@dataclass(frozen=True, kw_only=True)
class Regimes(Config):
    learn: LearnRuns = setting()
    retain: ClassRuns = setting()
    forget: ClassRuns = setting()


@dataclass(frozen=True, kw_only=True)
class SeedOnly(Config):
    seed: int = setting(ge=0)


@dataclass(frozen=True, kw_only=True)
class ModelZooParams(Config):
    seed: int = setting(ge=0)
    reference_seed: int = setting(ge=0)
    oracle_replicas: SeedOnly = setting()
    train_fraction: float = setting(gt=0.0, le=1.0)
    checkpoints_per_run: int = setting(ge=2)
    max_abs_weight: float = setting(gt=0.0)
    training: ZooTraining = setting()
    zoo_input_dtype: str = setting(choices=("float32", "bfloat16"))
    forget_training: ForgetTraining = setting()
    regimes: Regimes = setting()


@dataclass(frozen=True, kw_only=True)
class Diffusion(Config):
    num_steps: int = setting(ge=1)
    beta_start: float = setting(gt=0.0, lt=1.0)
    beta_end: float = setting(gt=0.0, lt=1.0)

    def check(self, where: str) -> None:
        if self.beta_end < self.beta_start:
            raise ConfigError(f"{where}.beta_end must be at least {where}.beta_start.")


@dataclass(frozen=True, kw_only=True)
class Sampler(Config):
    kind: str = setting(choices=("ddim", "ddpm"))
    steps: int = setting(ge=1)


@dataclass(frozen=True, kw_only=True)
class Denoiser(Config):
    class_rows: bool = setting()
    unit_rows: bool = setting()
    width: int = setting(ge=1)
    depth: int = setting(ge=1)
    heads: int = setting(ge=1)
    chunk_size: int = setting(ge=1)
    num_frequencies: int = setting(ge=1)
    max_frequency_log2: float = setting()

    def check(self, where: str) -> None:
        if self.width % self.heads:
            raise ConfigError(
                f"{where}.width ({self.width}) must be a multiple of {where}.heads ({self.heads})."
            )


@dataclass(frozen=True, kw_only=True)
class HyperTraining(Config):
    steps: int = setting(ge=1)
    batch_size: int = setting(ge=1)
    lr: float = setting(gt=0.0)
    lr_schedule: str = setting(choices=("constant", "cosine"))
    weight_decay: float = setting(ge=0.0)
    grad_clip: float = setting(gt=0.0)
    ema_decay: float = setting(ge=0.0, lt=1.0)
    permute: bool = setting()
    balance_tensors: bool = setting()
    log_every: int = setting(ge=1)
    regimes: tuple[str, ...] | None = setting(choices=None)
    precision: str = setting(choices=("float32", "tf32", "bfloat16"))


@dataclass(frozen=True, kw_only=True)
class HypernetworkParams(Config):
    seed: int = setting(ge=0)
    held_out_fraction: float = setting(ge=0.0, lt=1.0)
    max_prompts: int = setting(ge=1)
    scale_numerator: float = setting(gt=0.0)
    diffusion: Diffusion = setting()
    sampler: Sampler = setting()
    model: Denoiser = setting()
    training: HyperTraining = setting()
    variant_training: dict = setting()

    def check(self, where: str) -> None:
        base = self.training.to_dict()
        for variant, overrides in self.variant_training.items():
            HyperTraining.from_params(
                {**base, **(overrides or {})}, f"{where}.variant_training.{variant}"
            )


@dataclass(frozen=True, kw_only=True)
class SPMReplicas(Config):
    runs_per_scenario: int = setting(ge=1)
    seed: int = setting(ge=0)


@dataclass(frozen=True, kw_only=True)
class SemiParametricParams(Config):
    seed: int = setting(ge=0)
    oracle_seed: int = setting(ge=0)
    oracle_replicas: SPMReplicas = setting()
    encoder: str = setting(choices=("mlp", "cnn", "resnet18"))
    hidden: tuple[int, ...] = setting(ge=1)
    embed_dim: int = setting(ge=1)
    mode: str = setting(choices=("c", "r"))
    neighbours: int = setting(ge=1)
    epochs: int = setting(ge=1)
    min_steps: int = setting(ge=0)
    batch_size: int = setting(ge=1)
    support_per_class: int = setting(ge=1)
    lr: float = setting(gt=0.0)
    sample_wise_fraction: float | None = setting(gt=0.0, lt=1.0)
    forget_sample_ids: Any = setting()  # null, a list of ids or its command-line spelling


# the block of each stage, by its key in the parameters
STAGES: dict[str, type[Config]] = {
    "model": ModelParams,
    "data_preparation": DataPreparationParams,
    "model_zoo": ModelZooParams,
    "hypernetwork": HypernetworkParams,
    "semi_parametric": SemiParametricParams,
}


def check_stage(name: str, block: Any) -> Config:
    """The stage's block, checked: a :class:`ConfigError` naming the first bad parameter."""
    return STAGES[name].from_params(block, name)
