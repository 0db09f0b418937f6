"""Nodes of the unlearning pipeline: one generic node per registered method."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from torch import Tensor

from hyperforget.core.compute import tasks, torch_threads
from hyperforget.core.data import split_tensors
from hyperforget.core.devices import resolve_device
from hyperforget.core.scenario import scenarios_from
from hyperforget.core.targets import target_builder
from hyperforget.pipelines.tracking import mlflow_metrics
from hyperforget.schema import checked
from hyperforget.unlearning.api import ForgetRequest
from hyperforget.unlearning.registry import method_config as method_config_of
from hyperforget.unlearning.registry import method_specs, select_methods
from hyperforget.unlearning.scenarios import run_scenarios

logger = logging.getLogger(__name__)


def unlearn(
    method: str,
    original_weights: dict[str, Any],
    train_split: dict[str, Tensor],
    val_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    forget_scenarios: list[dict[str, Any]],
    model: dict[str, Any],
    methods_to_run: Any,
    seed: int,
    method_config: dict[str, Any] | None,
    method_runs: int,
    device: str,
    compute: dict[str, Any],
    base_config: dict[str, Any] | None = None,
    **resources: Any,
) -> tuple[dict[str, Any], dict[str, dict[str, float]]]:
    """``method`` (its block ``method_config`` over ``base_config``, the block of the method it
    extends) on every forget scenario, ``evaluation.method_runs`` times (``run_scenarios``), the
    runs on ``compute``'s backend; a method left out of ``unlearning.run`` saves an empty
    result."""
    if method not in select_methods(methods_to_run):
        logger.info("%s is not in unlearning.run: skipped", method)
        forget_scenarios = []
    scenarios = scenarios_from(forget_scenarios)
    config = method_config_of(
        method, {method: method_config, method_specs()[method].extends: base_config}
    )
    dev = resolve_device(device)
    base = ForgetRequest(
        original=original_weights["params"].to(dev),
        scenario=None,
        train=split_tensors(train_split, dev),
        val=split_tensors(val_split, dev),
        num_classes=int(class_manifest["num_classes"]),
        build=target_builder(model, class_manifest),
        seed=int(seed),
    )
    cluster = checked("compute", compute)
    all_threads = method_specs()[method].all_threads
    if not scenarios or (all_threads and cluster.backend == "processes"):
        # nothing to run, or a method whose work is large enough for every core here
        cluster = replace(cluster, backend="local")
    threads = None if all_threads else cluster.run_threads
    with tasks(cluster) as map_tasks, torch_threads(threads):
        weights, metrics = run_scenarios(
            method, base, config, scenarios, int(method_runs), resources, map_tasks
        )
    return weights, mlflow_metrics(metrics)
