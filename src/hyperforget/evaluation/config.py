"""``evaluation.*``: how many runs are drawn, how the attacks and F are sampled, and the bars of
the verdicts (docs/metrics.md)."""

from __future__ import annotations

from dataclasses import dataclass

from hyperforget.core.config import Config, ConfigError, setting


@dataclass(frozen=True, kw_only=True)
class EvaluationConfig(Config):
    seed: int = setting(ge=0)
    oracle_runs: int = setting(ge=1)  # R retrained models per scenario
    method_runs: int = setting(ge=3)  # M runs of each method; F needs 3 per side
    forget_examples: int | None = setting(ge=1)  # F's seeded sample of forget examples
    forgetting_estimator: str = setting("reference", choices=("reference", "exhaustive"))
    retain_margins: tuple[float, ...] = setting(ge=0.0)
    forgot_tolerance: float = setting(ge=0.0)
    retrain_max_drop: float = setting(ge=0.0)
    oracle_max_z: float = setting(ge=0.0)
    mia_max_samples: int | None = setting(ge=1)
    leave_out_classes: tuple[int, ...] = setting((), ge=0)  # the leave-one-class-out check
    leave_out_variant: str = setting("dihyfo2", choices=("dihyfo1", "dihyfo2"))

    def check(self, where: str) -> None:
        if not self.retain_margins:
            raise ConfigError(f"{where}.retain_margins is empty; e.g. [1, 2, 3].")
        if self.oracle_runs < self.method_runs:
            raise ConfigError(
                f"{where}.oracle_runs ({self.oracle_runs}) must be at least {where}.method_runs "
                f"({self.method_runs}): each method run is paired with its own retrained model. "
                "Raise oracle_runs (2 x method_runs also scores retraining against itself) or "
                "lower method_runs."
            )
