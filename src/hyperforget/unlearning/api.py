"""The interface every unlearning method implements (docs/architecture.md).

A method is a function ``forget(request, config) -> Unlearned``: from the original weights, the
data splits and the scenario to forget, with its own parameters ``config``, it returns unlearned
weights (and optional diagnostics). Methods that need trained artefacts (a hypernetwork, a zoo)
read them from ``request.resources`` by name. ``registry.py`` lists the methods.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from hyperforget.core.config import Config
from hyperforget.core.scenario import ForgetScenario


@dataclass
class ForgetRequest:
    """Everything a method may use. Methods must not look at the test split."""

    original: Tensor  # [P]
    scenario: ForgetScenario | None  # None only in the base request every run is made from
    train: tuple[Tensor, Tensor]
    val: tuple[Tensor, Tensor]
    num_classes: int
    build: Callable[[], nn.Module]
    seed: int = 0
    resources: dict[str, Any] = field(default_factory=dict)

    @property
    def forget_classes(self) -> tuple[int, ...]:
        """The classes the scenario forgets (none for a sample-wise one)."""
        return self.scenario.classes if self.scenario is not None else ()

    def forget_mask(self, labels: Tensor, split: str) -> Tensor:
        """Which samples of ``split`` (its ``labels``) the scenario forgets."""
        if self.scenario is None:
            raise ValueError("This request names no forget scenario.")
        return self.scenario.forget_mask(labels, split)


@dataclass
class Unlearned:
    params: Tensor  # [P]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class TimedResult:
    params: Tensor
    seconds: float
    info: dict[str, Any]


Method = Callable[[ForgetRequest, Any], Unlearned]
Prepare = Callable[[dict[str, Any], ForgetRequest, Any], dict[str, Any]]


@dataclass(frozen=True)
class MethodSpec:
    """A method: its ``forget`` function, the frozen ``config`` class of its parameters
    (``unlearning.methods.<name>``), the catalog entries it needs as resources (resource name
    -> dataset name), an optional untimed ``prepare`` of those resources (e.g. building a
    network from its weight file once for every scenario), for a variant of another method
    (an ablation), the method whose parameters its own block overrides (``extends``), and
    whether a run is one large batched computation that uses every core (``all_threads``,
    DiHyFo-2's draws) rather than runs side by side on ``compute.run_threads`` each, and, for
    a method that cannot answer a sample-wise request, why (``not_sample_wise``: its rows of
    those scenarios say so instead of scores)."""

    forget: Method
    config: type[Config]
    inputs: dict[str, str] = field(default_factory=dict)
    prepare: Prepare | None = None
    extends: str | None = None
    all_threads: bool = False
    not_sample_wise: str = ""


def not_applicable(weights: dict[str, Any]) -> dict[str, str]:
    """The scenarios a method's unlearned weights file holds no run of (``run_scenarios``
    could not make them), each with the reason."""
    return json.loads((weights.get("__metadata__") or {}).get("not_applicable") or "{}")
