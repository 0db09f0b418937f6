"""One interface for every unlearning method (docs/architecture.md).

A method is a function ``forget(request, config) -> Unlearned``: from the original weights, the
data splits and the classes to forget, with its own parameters ``config``, it returns unlearned
weights (and optional diagnostics). ``run_method`` times it, so one evaluation serves all.
Adding a method is adding one module with a ``forget`` function and one line in ``METHODS``.
Methods that need trained artefacts (a hypernetwork, a zoo) read them from
``request.resources`` by name.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from hyperforget.devices import synchronize
from hyperforget.params import list_param


@dataclass
class ForgetRequest:
    """Everything a method may use. Methods must not look at the test split."""

    original: Tensor  # [P]
    forget_classes: tuple[int, ...]
    train: tuple[Tensor, Tensor]
    val: tuple[Tensor, Tensor]
    num_classes: int
    build: Callable[[], nn.Module]
    seed: int = 0
    resources: dict[str, Any] = field(default_factory=dict)


@dataclass
class Unlearned:
    params: Tensor  # [P]
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class TimedResult:
    params: Tensor
    seconds: float
    info: dict[str, Any]


Method = Callable[[ForgetRequest, dict[str, Any]], Unlearned]
Prepare = Callable[[dict[str, Any], ForgetRequest, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class MethodSpec:
    """A method: its ``forget`` function, the catalog entries it needs as resources
    (resource name -> dataset name) and an optional untimed ``prepare`` of those resources
    (e.g. building a network from its weight file once for every scenario)."""

    forget: Method
    inputs: dict[str, str] = field(default_factory=dict)
    prepare: Prepare | None = None


def method_specs() -> dict[str, MethodSpec]:
    from hyperforget.unlearning import (
        bad_teacher,
        dihyfo,
        finetune,
        gradient_ascent,
        ltu,
        random_labels,
        scrub,
        ssd,
    )

    return {
        "dihyfo1": dihyfo.spec("dihyfo1"),
        "dihyfo2": dihyfo.spec("dihyfo2"),
        "ft": MethodSpec(finetune.forget),
        "ga": MethodSpec(gradient_ascent.forget),
        "rl": MethodSpec(random_labels.forget),
        "ssd": MethodSpec(ssd.forget),
        "scrub": MethodSpec(scrub.forget),
        "bad_teacher": MethodSpec(bad_teacher.forget),
        "ltu": MethodSpec(ltu.forget),
        "ltu_no_harmonisation": MethodSpec(ltu.forget),
    }


def available_methods() -> list[str]:
    return list(method_specs())


def select_methods(requested: list[str] | None) -> list[str]:
    """The methods a run asks for (``None``: all of them), checked against the registry."""
    available = available_methods()
    requested = list_param(requested)
    if requested is None:
        return available
    if not isinstance(requested, list) or not requested:
        raise ValueError(
            f"unlearning.run must be a non-empty list of method names or null (all); got "
            f"{requested!r}. Available: {', '.join(available)}."
        )
    unknown = [name for name in requested if name not in available]
    if unknown:
        raise ValueError(
            f"Unknown unlearning method(s) {', '.join(map(repr, unknown))} in unlearning.run; "
            f"available: {', '.join(available)}."
        )
    return list(dict.fromkeys(requested))


def run_method(name: str, request: ForgetRequest, config: dict[str, Any]) -> TimedResult:
    """Run method ``name`` on ``request`` and time it (wall clock, synchronised on CUDA)."""
    methods = method_specs()
    if name not in methods:
        raise ValueError(f"Unknown unlearning method {name!r}; available: {', '.join(methods)}.")
    device = request.original.device
    start = time.perf_counter()
    result = methods[name].forget(request, {"method": name, **config})
    synchronize(device)
    return TimedResult(result.params.detach(), time.perf_counter() - start, result.info)
