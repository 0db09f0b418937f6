"""The run's parameters (``conf/base/parameters*.yml``), typed and checked: the one schema of
every stage's block, built from the libraries' typed configs.

Every key a run reads is known here, and every block is built from these before the first node
(``hooks.py``); a node takes its block typed through :func:`checked`. A key nobody reads (the
closest known name suggested), a value of the wrong type, not finite or outside its range, an
empty list where one is needed stops the run with one message naming the parameter, before
anything is written. The unlearning methods' blocks are checked by their own configs
(``unlearning.registry.method_config``). Lists given on the command line as strings
(``classes=[0 1]``) are read by ``core.params.list_param``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from hyperforget.core import data
from hyperforget.core.compute import ComputeConfig
from hyperforget.core.config import Config, ConfigError, setting, unknown_keys_message
from hyperforget.core.params import list_param
from hyperforget.core.scenario import class_set
from hyperforget.evaluation.config import EvaluationConfig
from hyperforget.hypernet.model import VARIANTS, DenoiserConfig
from hyperforget.hypernet.train import HyperTrainConfig
from hyperforget.spm.train import SPMConfig
from hyperforget.zoo.recipe import Competence, RecipeSearch
from hyperforget.zoo.training import ForgetTraining, SGDConfig


@dataclass(frozen=True, kw_only=True)
class ModelParams(Config):
    kind: str = setting(choices=("mlp",))
    hidden: tuple[int, ...] = setting(ge=1)

    def check(self, where: str) -> None:
        if not self.hidden:
            raise ConfigError(f"{where}.hidden is empty: list the hidden widths, e.g. [10].")


@dataclass(frozen=True, kw_only=True)
class SplitParams(Config):
    fractions: dict = setting()
    seed: int = setting(ge=0)
    official_test: bool = setting()

    def check(self, where: str) -> None:
        names = {"train", "val", "test"}
        if not isinstance(self.fractions, dict) or set(self.fractions) != names:
            raise ConfigError(
                f"{where}.fractions must name train, val and test, e.g. "
                f"{{train: 0.7, val: 0.1, test: 0.2}}; got {self.fractions!r}."
            )
        bad = {k: v for k, v in self.fractions.items() if not _finite_number(v) or v <= 0}
        if bad:
            raise ConfigError(
                f"{where}.fractions must be numbers > 0 summing to 1, got {bad}; e.g. "
                "{train: 0.7, val: 0.1, test: 0.2}."
            )
        if not self.official_test:  # else the source may keep its official test part
            data.check_fractions(self.fractions)


@dataclass(frozen=True, kw_only=True)
class Normalisation(Config):
    mean: tuple[float, ...] | None = setting(None)  # null or absent: the train split's
    std: tuple[float, ...] | None = setting(None, gt=0.0)


@dataclass(frozen=True, kw_only=True)
class DataPreparationParams(Config):
    classes: Any = setting()  # a list, or its command-line spelling "[0 1 2]"
    subset: int | None = setting(ge=1)
    split: SplitParams = setting()
    normalisation: Normalisation | None = setting()  # null: computed from the train split

    def check(self, where: str) -> None:
        _class_list(self.classes, f"{where}.classes", "null for every class")


@dataclass(frozen=True, kw_only=True)
class LearnRuns(Config):
    runs: int = setting(ge=0)


@dataclass(frozen=True, kw_only=True)
class ClassRuns(Config):
    runs_per_class: int = setting(ge=0)
    classes: Any = setting()  # null (every class) or a list of class labels

    def check(self, where: str) -> None:
        _class_list(self.classes, f"{where}.classes", "null for all classes")


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
    recipe_search: RecipeSearch = setting()
    competence: Competence = setting()
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
    forget_sample_ids: Any = setting()  # null, a list of ids or its command-line spelling


@dataclass(frozen=True, kw_only=True)
class UnlearningParams(Config):
    forget_classes: Any = setting()  # null (every class) or a list of labels, "[1 7]" on a CLI
    forget_class_sets: Any = setting(None)  # null or sets forgotten in one request, "1+7"
    sample_fractions: Any = setting(None)  # null or shares of the training split, 0.1 = random10
    seed: int = setting(ge=0)
    run: Any = setting()  # null (every method) or a list of method names
    methods: dict | None = setting()  # each method's block, checked by its own config

    def check(self, where: str) -> None:
        _class_list(self.forget_classes, f"{where}.forget_classes", "null for every class")
        for value in list_param(self.forget_class_sets) or []:
            try:
                class_set(value, f"{where}.forget_class_sets")
            except ValueError as error:
                raise ConfigError(str(error)) from None
        _fractions(self.sample_fractions, f"{where}.sample_fractions")
        from hyperforget.unlearning.registry import select_methods  # imports torch

        select_methods(self.run)


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _fractions(value: Any, name: str) -> None:
    """``value``: null, or distinct shares of the training split, each strictly between 0 and
    1 (a command line's "[0.01 0.1]" too)."""
    items = list_param(value)
    if items is None:
        return
    if not isinstance(items, list):
        raise ConfigError(
            f"{name} must be null or a list of shares, e.g. [0.01, 0.1]; got {value!r}."
        )
    bad = [f for f in items if not _finite_number(f) or not 0 < f < 1]
    if bad or len(set(items)) != len(items):
        raise ConfigError(
            f"{name} must list distinct shares of the training split, each between 0 and 1 "
            f"(0.1 forgets 10%: scenario random10), got {value!r}."
        )


def _class_list(value: Any, name: str, default: str) -> None:
    """``value``: null, or a non-empty list of class ids >= 0 (a command line's "[1 7]" too)."""
    items = list_param(value)
    if items is None:
        return
    if not isinstance(items, list) or not items:
        raise ConfigError(
            f"{name} is empty or not a list ({value!r}): list class ids, e.g. [3], or {default}."
        )
    bad = [c for c in items if isinstance(c, bool) or not isinstance(c, int) or c < 0]
    if bad:
        raise ConfigError(
            f"{name} must list class ids (whole numbers >= 0, e.g. [3]), got {bad} in {value!r}."
        )


# the block of each stage, by its key in the parameters
STAGES: dict[str, type[Config]] = {
    "compute": ComputeConfig,
    "model": ModelParams,
    "data_preparation": DataPreparationParams,
    "model_zoo": ModelZooParams,
    "hypernetwork": HypernetworkParams,
    "semi_parametric": SemiParametricParams,
    "evaluation": EvaluationConfig,
    "unlearning": UnlearningParams,
}

# top-level keys that are not blocks: the lineage a run reads (a save version or null), the
# torch device, and the raw data's source (read by the catalog, given with --params)
SCALARS = ("lineage", "device", "raw_source", "raw_name", "raw_root")


def checked(name: str, block: Any) -> Any:
    """A stage's block (``"evaluation"``) or one key of it (``"model_zoo.competence"``), checked
    and typed (what a node passes on): a :class:`ConfigError` naming the first bad parameter."""
    stage, _, key = name.partition(".")
    if key:
        return STAGES[stage].value_of(key, block, stage)
    return STAGES[stage].from_params(block, stage)


def check_parameters(parameters: dict[str, Any]) -> dict[str, Config]:
    """Every top-level key known, every block checked; the checked blocks by name."""
    known = [*STAGES, *SCALARS]
    unknown = sorted(set(parameters) - set(known), key=str)
    if unknown:
        raise ConfigError(unknown_keys_message(unknown, known, None))
    lineage = parameters.get("lineage")
    if lineage is not None and (not isinstance(lineage, str) or not lineage.strip()):
        raise ConfigError(
            f"lineage must be null or a save version (a file name in data/09_runs without .json), "
            f"got {lineage!r}."
        )
    blocks = {name: checked(name, parameters.get(name)) for name in STAGES}
    forget_classes = list_param(blocks["unlearning"].forget_classes)
    left_out = blocks["evaluation"].leave_out_classes
    missing = [k for k in left_out if forget_classes is not None and k not in forget_classes]
    if missing:
        raise ConfigError(
            f"evaluation.leave_out_classes has {missing}, which unlearning.forget_classes "
            f"({forget_classes}) does not forget: the check needs their retrained models; add "
            "them to forget_classes or drop them from leave_out_classes."
        )
    return blocks
