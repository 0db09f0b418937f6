"""The unlearning methods by name, their checked parameters, and one timed call for all.

Adding a method is adding one module with a ``forget`` function and one line in
``method_specs``; ``run_method`` times it, so one evaluation serves all.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from hyperforget.core.config import Config
from hyperforget.core.devices import synchronize
from hyperforget.core.params import list_param
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
from hyperforget.unlearning.api import ForgetRequest, MethodSpec, TimedResult


def method_specs() -> dict[str, MethodSpec]:
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
