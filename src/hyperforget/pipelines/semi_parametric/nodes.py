"""Nodes of the semi_parametric pipeline: thin glue around ``hyperforget.spm``."""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from torch import Tensor

from hyperforget.core.compute import tasks, torch_threads
from hyperforget.pipelines.tracking import mlflow_metrics
from hyperforget.schema import checked
from hyperforget.spm import runs
from hyperforget.spm.runs import delete_from_memory, plan_deletions, train_spms
from hyperforget.spm.scoring import score_spm

__all__ = [
    "delete_from_memory",
    "evaluate_semi_parametric",
    "plan_deletions",
    "train_oracle_replicas",
    "train_oracles",
    "train_semi_parametric",
]


def train_semi_parametric(
    train_split: dict[str, Tensor],
    test_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    params: dict[str, Any],
    method_runs: int,
    device: str,
    compute: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame, dict[str, Any]]:
    """The SPM's runs, each with its memory, and its comparison with a plain classifier, on
    ``compute.run_threads`` torch threads."""
    with torch_threads(checked("compute", compute).run_threads):
        *trained, test_accuracy = train_spms(
            train_split, test_split, class_manifest, params, method_runs, device
        )
    return *trained, mlflow_metrics(test_accuracy)


def train_oracles(
    train_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    deletions: list[dict[str, Any]],
    params: dict[str, Any],
    device: str,
    compute: dict[str, Any],
) -> dict[str, Any]:
    """Per scenario, the reference SPM retrained without the deleted samples (alone: its
    seconds are the speed-up's reference), on ``compute``'s backend and run threads."""
    cluster = checked("compute", compute)
    with tasks(cluster) as map_tasks, torch_threads(cluster.run_threads):
        return runs.train_oracles(train_split, class_manifest, deletions, params, device, map_tasks)


def train_oracle_replicas(
    train_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    deletions: list[dict[str, Any]],
    params: dict[str, Any],
    device: str,
    method_runs: int,
    compute: dict[str, Any],
) -> dict[str, Any]:
    """The SPM's retrained distribution, on ``compute``'s backend and run threads."""
    cluster = checked("compute", compute)
    with tasks(cluster) as map_tasks, torch_threads(cluster.run_threads):
        return runs.train_oracle_replicas(
            train_split, class_manifest, deletions, params, device, method_runs, map_tasks
        )


def evaluate_semi_parametric(
    spm_weights: dict[str, Any],
    spm_memory: dict[str, Any],
    spm_unlearned_memory: dict[str, Any],
    spm_oracle_weights: dict[str, Any],
    spm_oracle_replica_weights: dict[str, Any],
    train_split: dict[str, Tensor],
    test_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    deletions: list[dict[str, Any]],
    params: dict[str, Any],
    evaluation_params: dict[str, Any],
    device: str,
    compute: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, Figure, dict[str, Any]]:
    """The SPM's rows of the per-run and forgetting-quality tables and its agreement spread,
    ``compute.scoring_threads`` runs scored at once."""
    *tables, metrics = score_spm(
        {"weights": spm_weights, "memory": spm_memory, "unlearned_memory": spm_unlearned_memory},
        {"oracle": spm_oracle_weights, "replicas": spm_oracle_replica_weights},
        (train_split, test_split),
        class_manifest,
        deletions,
        params,
        checked("evaluation", evaluation_params),
        device,
        checked("compute", compute).scoring_threads,
    )
    return *tables, mlflow_metrics(metrics)
