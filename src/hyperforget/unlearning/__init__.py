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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from hyperforget.core.config import Config
from hyperforget.core.devices import synchronize
from hyperforget.core.params import list_param


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


Method = Callable[[ForgetRequest, Any], Unlearned]
Prepare = Callable[[dict[str, Any], ForgetRequest, Any], dict[str, Any]]


@dataclass(frozen=True)
class MethodSpec:
    """A method: its ``forget`` function, the frozen ``config`` class of its parameters
    (``unlearning.methods.<name>``), the catalog entries it needs as resources (resource name
    -> dataset name), an optional untimed ``prepare`` of those resources (e.g. building a
    network from its weight file once for every scenario) and, for a variant of another method
    (an ablation), the method whose parameters its own block overrides (``extends``)."""

    forget: Method
    config: type[Config]
    inputs: dict[str, str] = field(default_factory=dict)
    prepare: Prepare | None = None
    extends: str | None = None


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
        "ft": MethodSpec(finetune.forget, finetune.FinetuneConfig),
        "ga": MethodSpec(gradient_ascent.forget, gradient_ascent.AscentConfig),
        "rl": MethodSpec(random_labels.forget, random_labels.RandomLabelsConfig),
        "ssd": MethodSpec(ssd.forget, ssd.SSDConfig),
        "scrub": MethodSpec(scrub.forget, scrub.ScrubConfig),
        "bad_teacher": MethodSpec(bad_teacher.forget, bad_teacher.BadTeacherConfig),
        "ltu": MethodSpec(ltu.forget, ltu.LTUConfig),
        "ltu_no_harmonisation": MethodSpec(ltu.forget, ltu.LTUConfig, extends="ltu"),
    }


def method_config(name: str, methods: Mapping[str, Any]) -> Config:
    """Method ``name``'s checked, frozen parameters from ``unlearning.methods`` (``methods``;
    a method that ``extends`` another: its block over the other's)."""
    specs = method_specs()
    if name not in specs:
        raise ValueError(f"Unknown unlearning method {name!r}; available: {', '.join(specs)}.")
    spec = specs[name]
    block = dict(methods.get(name) or {})
    if spec.extends is not None:
        block = {**(methods.get(spec.extends) or {}), **block}
    return spec.config.from_params(block, f"unlearning.methods.{name}")


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


def run_method(name: str, request: ForgetRequest, config: Config) -> TimedResult:
    """Run method ``name`` with its parameters ``config`` (see :func:`method_config`) on
    ``request`` and time it (wall clock, synchronised on CUDA)."""
    methods = method_specs()
    if name not in methods:
        raise ValueError(f"Unknown unlearning method {name!r}; available: {', '.join(methods)}.")
    if not isinstance(config, methods[name].config):
        raise TypeError(f"run_method({name!r}) takes a {methods[name].config.__name__}.")
    device = request.original.device
    start = time.perf_counter()
    result = methods[name].forget(request, config)
    synchronize(device)
    return TimedResult(result.params.detach(), time.perf_counter() - start, result.info)
