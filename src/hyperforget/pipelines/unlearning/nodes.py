"""Nodes of the unlearning pipeline: one generic node per registered method."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from hyperforget.devices import resolve_device
from hyperforget.pipelines.model_zoo.nodes import split_tensors, target_builder
from hyperforget.unlearning import ForgetRequest, method_specs, run_method, select_methods

logger = logging.getLogger(__name__)


def _stack(rows: list[Tensor], width: int) -> Tensor:
    return torch.stack(rows) if rows else torch.empty(0, width)


def unlearn(
    method: str,
    original_weights: dict[str, Any],
    train_split: dict[str, Tensor],
    val_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    forget_scenarios: list[dict[str, Any]],
    model: dict[str, Any],
    unlearning: dict[str, Any],
    device: str,
    **resources: Any,
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """Run ``method`` on every forget scenario: one weight row per scenario, timed, and MLflow
    metrics of its seconds and numeric diagnostics (e.g. LTU's share of conflicting steps).

    A method left out of ``unlearning.run`` saves an empty result (no rows), which the
    evaluation skips.
    """
    dev = resolve_device(device)
    if method not in unlearning["methods"]:
        raise ValueError(
            f"No parameters for unlearning method {method!r}: add unlearning.methods.{method} "
            "to conf/base/parameters_unlearning.yml."
        )
    if method not in select_methods(unlearning.get("run")):
        logger.info("%s is not in unlearning.run: skipped", method)
        forget_scenarios = []
    config = {"method": method, **(unlearning["methods"][method] or {})}
    base = ForgetRequest(
        original=original_weights["params"].to(dev),
        forget_classes=(),
        train=split_tensors(train_split, dev),
        val=split_tensors(val_split, dev),
        num_classes=int(class_manifest["num_classes"]),
        build=target_builder(model, class_manifest),
        seed=int(unlearning["seed"]),
    )
    spec = method_specs()[method]
    prepared = resources
    if spec.prepare and forget_scenarios:
        prepared = spec.prepare(resources, base, config)
    rows, seconds, infos = [], [], []
    for scenario in forget_scenarios:
        request = replace(base, forget_classes=tuple(scenario["classes"]), resources=prepared)
        result = run_method(method, request, config)
        rows.append(result.params.cpu())
        seconds.append(result.seconds)
        infos.append(result.info)
        logger.info("%s forgot class %s in %.3f s", method, scenario["name"], result.seconds)
    num_classes = base.num_classes
    nan_losses = torch.full((num_classes,), float("nan"))
    weights = {
        "params": _stack(rows, base.original.numel()),
        "seconds": torch.tensor(seconds, dtype=torch.float64),
        "prompt_r2": torch.tensor([i.get("prompt_r2", float("nan")) for i in infos]),
        "target_loss": _stack([i.get("target_loss", nan_losses) for i in infos], num_classes),
        "observed_loss": _stack([i.get("observed_loss", nan_losses) for i in infos], num_classes),
        "__metadata__": {
            "method": method,
            "skipped": json.dumps(not rows),
            "forget_classes": json.dumps([s["name"] for s in forget_scenarios]),
            "config": json.dumps(config, default=str),
            "selection_rule": str(infos[0].get("selection_rule", "")) if infos else "",
        },
    }
    return weights, _scalar_metrics(method, forget_scenarios, seconds, infos)


def _scalar_metrics(
    method: str, scenarios: list[dict[str, Any]], seconds: list[float], infos: list[dict]
) -> dict[str, dict[str, float]]:
    """MLflow metrics: the seconds and every numeric diagnostic of each scenario, and means."""
    per_key: dict[str, list[float]] = {}
    metrics = {}
    for scenario, spent, info in zip(scenarios, seconds, infos, strict=True):
        scalars = {"seconds": spent}
        scalars.update((k, float(v)) for k, v in info.items() if isinstance(v, int | float | bool))
        for key, value in scalars.items():
            metrics[f"unlearning.{method}.c{scenario['name']}.{key}"] = value
            per_key.setdefault(key, []).append(value)
    for key, values in per_key.items():
        metrics[f"unlearning.{method}.mean.{key}"] = sum(values) / len(values)
    return {name: {"value": value, "step": 0} for name, value in metrics.items()}
