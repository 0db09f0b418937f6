"""Nodes of the unlearning pipeline: one generic node per registered method."""

from __future__ import annotations

import json
import logging
from typing import Any

import torch
from torch import Tensor

from hyperforget.devices import resolve_device
from hyperforget.pipelines.model_zoo.nodes import split_tensors, target_builder
from hyperforget.unlearning import ForgetRequest, method_specs, run_method

logger = logging.getLogger(__name__)


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
) -> dict[str, Any]:
    """Run ``method`` on every forget scenario; returns one weight row per scenario, timed."""
    dev = resolve_device(device)
    config = {"method": method, **(unlearning["methods"].get(method) or {})}
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
    prepared = spec.prepare(resources, base, config) if spec.prepare else resources
    rows, seconds, infos = [], [], []
    for scenario in forget_scenarios:
        request = ForgetRequest(
            **{**base.__dict__, "forget_classes": tuple(scenario["classes"]), "resources": prepared}
        )
        result = run_method(method, request, config)
        rows.append(result.params.cpu())
        seconds.append(result.seconds)
        infos.append(result.info)
        logger.info("%s forgot class %s in %.3f s", method, scenario["name"], result.seconds)
    num_classes = base.num_classes
    nan_losses = torch.full((num_classes,), float("nan"))
    return {
        "params": torch.stack(rows),
        "seconds": torch.tensor(seconds, dtype=torch.float64),
        "prompt_r2": torch.tensor([i.get("prompt_r2", float("nan")) for i in infos]),
        "target_loss": torch.stack([i.get("target_loss", nan_losses) for i in infos]),
        "observed_loss": torch.stack([i.get("observed_loss", nan_losses) for i in infos]),
        "__metadata__": {
            "method": method,
            "forget_classes": json.dumps([s["name"] for s in forget_scenarios]),
            "config": json.dumps(config, default=str),
            "selection_rule": str(infos[0].get("selection_rule", "")) if infos else "",
        },
    }
