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

from hyperforget.core.compute import ComputeConfig
from hyperforget.core.config import Config, ConfigError, setting
from hyperforget.hypernet.model import VARIANTS, DenoiserConfig
from hyperforget.hypernet.train import HyperTrainConfig
from hyperforget.spm import SPMConfig
from hyperforget.zoo.training import ForgetTraining, SGDConfig


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
    refit: ClassRuns = setting()


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
    training: SGDConfig = setting()
    zoo_input_dtype: str = setting(choices=("float32", "bfloat16"))
    forget_training: ForgetTraining = setting()
    refit_training: ForgetTraining = setting()
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
class HypernetworkParams(Config):
    seed: int = setting(ge=0)
    held_out_fraction: float = setting(ge=0.0, lt=1.0)
    max_prompts: int = setting(ge=1)
    scale_numerator: float = setting(gt=0.0)
    diffusion: Diffusion = setting()
    sampler: Sampler = setting()
    model: DenoiserConfig = setting()
    training: dict = setting()  # what both variants share; each variant's block adds the rest
    variant_training: dict = setting()

    def check(self, where: str) -> None:
        unknown = sorted(set(self.variant_training) - set(VARIANTS))
        if unknown:
            raise ConfigError(
                f"{where}.variant_training has {unknown}, not DiHyFo variants; use "
                f"{', '.join(VARIANTS)}."
            )
        for variant in VARIANTS:
            HyperTrainConfig.for_variant(self.to_dict(), variant)


@dataclass(frozen=True, kw_only=True)
class SPMReplicas(Config):
    runs_per_scenario: int = setting(ge=1)
    seed: int = setting(ge=0)


@dataclass(frozen=True, kw_only=True)
class SemiParametricParams(SPMConfig):
    """The SPM recipe (``spm.SPMConfig``) and the stage's own keys."""

    seed: int = setting(ge=0)
    oracle_seed: int = setting(ge=0)
    oracle_replicas: SPMReplicas = setting()
    sample_wise_fraction: float | None = setting(gt=0.0, lt=1.0)
    forget_sample_ids: Any = setting()  # null, a list of ids or its command-line spelling


# the block of each stage, by its key in the parameters
STAGES: dict[str, type[Config]] = {
    "compute": ComputeConfig,
    "model": ModelParams,
    "data_preparation": DataPreparationParams,
    "model_zoo": ModelZooParams,
    "hypernetwork": HypernetworkParams,
    "semi_parametric": SemiParametricParams,
}


def check_stage(name: str, block: Any) -> Config:
    """The stage's block, checked: a :class:`ConfigError` naming the first bad parameter."""
    return STAGES[name].from_params(block, name)
