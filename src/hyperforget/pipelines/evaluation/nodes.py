"""Nodes of the evaluation pipeline: thin glue around ``hyperforget.evaluation.report``."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from torch import Tensor

from hyperforget.core.compute import tasks, torch_threads
from hyperforget.core.devices import resolve_device
from hyperforget.core.flat_params import ParamLayout
from hyperforget.core.scenario import SPLITS, scenario_names, scenarios_from
from hyperforget.core.targets import target_builder
from hyperforget.evaluation import leave_out, report, spread, zoo_distance
from hyperforget.pipelines.tracking import mlflow_metrics
from hyperforget.schema import checked
from hyperforget.unlearning.registry import available_methods, select_methods


def evaluate(
    original_weights: dict[str, Any],
    oracle_weights: dict[str, Any],
    retrained_weights: dict[str, Any],
    train_split: dict[str, Tensor],
    test_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    forget_scenarios: list[dict[str, Any]],
    model: dict[str, Any],
    evaluation_params: dict[str, Any],
    device: str,
    compute: dict[str, Any],
    spm_runs: pd.DataFrame,
    spm_forgetting: pd.DataFrame,
    methods_to_run: Any,
    **unlearned: dict[str, Any],
) -> tuple[Any, ...]:
    """The results table (also as CSV and markdown), the per-run table, the plots and the MLflow
    metrics of the runs of the methods ``unlearning.run`` names (``report.evaluate_benchmark``),
    scored with ``compute.run_threads`` torch threads, ``compute.scoring_threads`` runs at once."""
    scenarios = scenarios_from(forget_scenarios)
    bench = report.Benchmark(
        target_builder(model, class_manifest),
        int(class_manifest["num_classes"]),
        {"original": original_weights, "oracle": oracle_weights, "retrained": retrained_weights},
        report.unlearned_to_score(unlearned, scenarios, _requested(methods_to_run)),
        (train_split, test_split),
        scenarios,
        checked("evaluation", evaluation_params),
        resolve_device(device),
    )
    cluster = checked("compute", compute)
    with torch_threads(cluster.run_threads):
        result = report.evaluate_benchmark(
            bench, (spm_runs, spm_forgetting), cluster.scoring_threads
        )
    table = result.table
    metrics = mlflow_metrics(result.mlflow_metrics)
    return table, table, result.runs_table, result.markdown, *result.plots, metrics


def evaluate_oracle_spread(
    results_table: pd.DataFrame,
    original_weights: dict[str, Any],
    oracle_weights: dict[str, Any],
    retrained_weights: dict[str, Any],
    test_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    forget_scenarios: list[dict[str, Any]],
    model: dict[str, Any],
    device: str,
    retain_margins: Any,
    oracle_max_z: float,
) -> tuple[pd.DataFrame, Figure, pd.DataFrame, dict[str, Any]]:
    """How far retraining alone moves retain-test accuracy (``spread.oracle_spread``)."""
    result = spread.oracle_spread(
        results_table,
        target_builder(model, class_manifest),
        {"original": original_weights, "oracle": oracle_weights, "retrained": retrained_weights},
        test_split,
        scenarios_from(forget_scenarios),
        resolve_device(device),
        checked("evaluation.retain_margins", retain_margins),
        oracle_max_z,
        {"original", *available_methods()},
    )
    return result.table, result.plot, result.pass_table, mlflow_metrics(result.mlflow_metrics)


def evaluate_zoo_distances(
    zoo_weights: dict[str, Any],
    zoo_checkpoints: pd.DataFrame,
    retrained_weights: dict[str, Any],
    class_manifest: dict[str, Any],
    forget_scenarios: list[dict[str, Any]],
    model: dict[str, Any],
    method_runs: int,
    methods_to_run: Any,
    compute: dict[str, Any],
    **unlearned: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every method run's and retrained model's distance to the nearest zoo network
    (``zoo_distance.zoo_distance_table``, on ``compute``'s backend) and its MLflow means."""
    layout = ParamLayout.from_module(target_builder(model, class_manifest)())
    scenarios = scenarios_from(forget_scenarios)
    ran = report.unlearned_to_score(unlearned, scenarios, _requested(methods_to_run))
    with tasks(checked("compute", compute)) as map_tasks:
        table = zoo_distance.zoo_distance_table(
            zoo_distance.final_checkpoints(zoo_weights["params"], zoo_checkpoints),
            layout,
            scenarios,
            retrained_weights["params"],
            {method: weights["params"] for method, weights in ran.items()},
            int(method_runs),
            map_tasks,
        )
    return table, mlflow_metrics(zoo_distance.zoo_distance_metrics(table))


def evaluate_leave_out(  # noqa: PLR0913 (the run's zoo, references and splits, and the recipes)
    zoo_weights: dict[str, Any],
    zoo_checkpoints: pd.DataFrame,
    original_weights: dict[str, Any],
    retrained_weights: dict[str, Any],
    train_split: dict[str, Tensor],
    val_split: dict[str, Tensor],
    test_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    forget_scenarios: list[dict[str, Any]],
    model: dict[str, Any],
    hypernetwork: dict[str, Any],
    dihyfo1: dict[str, Any],
    dihyfo2: dict[str, Any],
    evaluation: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The leave-one-class-out check of ``evaluation.leave_out_variant`` on each class of
    ``evaluation.leave_out_classes`` (``leave_out.leave_out_table``) and its MLflow metrics."""
    config = checked("evaluation", evaluation)
    variant = config.leave_out_variant
    names = scenario_names(scenarios_from(forget_scenarios))
    check = leave_out.LeaveOut(
        build=target_builder(model, class_manifest),
        num_classes=int(class_manifest["num_classes"]),
        zoo_params=zoo_weights["params"],
        zoo_table=zoo_checkpoints,
        original=original_weights["params"].flatten(),
        retrained=dict(zip(names, retrained_weights["params"], strict=True)),
        splits={
            name: (split["images"], split["labels"])
            for name, split in zip(SPLITS, (train_split, val_split, test_split), strict=True)
        },
        hypernetwork=hypernetwork,
        sampling={"dihyfo1": dihyfo1, "dihyfo2": dihyfo2}[variant],
        evaluation=evaluation,
    )
    table = leave_out.leave_out_table(check, variant, list(config.leave_out_classes), names)
    return table, mlflow_metrics(leave_out.leave_out_metrics(table))


def _requested(methods_to_run: Any) -> list[str] | None:
    """``unlearning.run``'s methods, or None when it is null (every method that ran)."""
    return None if methods_to_run is None else select_methods(methods_to_run)
