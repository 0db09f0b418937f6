"""The SPM's rows of the benchmark: every SPM run after deletion (``spm``) and every retrained
SPM (``spm_oracle``) scored per scenario, their forgetting quality, and how well the SPM runs
agree with the reference retrained SPM against how well other retrained SPMs do."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor

from hyperforget.core.data import split_tensors
from hyperforget.core.devices import resolve_device
from hyperforget.core.flat_params import load_flat_into
from hyperforget.core.scenario import class_mask
from hyperforget.evaluation import metrics
from hyperforget.evaluation.config import EvaluationConfig
from hyperforget.evaluation.plots import agreement_spread_bars
from hyperforget.evaluation.scoring import ScenarioRuns, score_scenario
from hyperforget.spm.memory import Memory, build_memory, predict
from hyperforget.spm.model import SemiParametric
from hyperforget.spm.runs import MEMORY_FIELDS, build_model, config_of, memory_from
from hyperforget.spm.train import SPMConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SPMFamily:
    """The SPM runs (networks and memories) and what they are scored on, on one device."""

    config: SPMConfig
    manifest: dict[str, Any]
    images: Tensor  # the train split's
    labels: Tensor
    test_images: Tensor
    models: list[SemiParametric]
    memories: list[Memory]

    def network(self, weights: Tensor) -> SemiParametric:
        dev = self.images.device
        return load_flat_into(build_model(self.config, self.manifest).to(dev), weights.to(dev))

    def outputs(self, net: SemiParametric, memory: Memory) -> metrics.Outputs:
        def answers(inputs: Tensor) -> Tensor:
            config = self.config
            return predict(net, memory, inputs, config.mode, config.neighbours).cpu()

        return metrics.Outputs(answers(self.images), answers(self.test_images))

    def retrained(self, weights: Tensor, keep: Tensor) -> metrics.Outputs:
        """A retrained SPM's outputs, with its memory of the samples it was trained on."""
        net = self.network(weights)
        num_classes = int(self.manifest["num_classes"])
        sample_ids = self.memories[0].sample_ids[keep]
        memory = build_memory(net, self.images[keep], self.labels[keep], sample_ids, num_classes)
        return self.outputs(net, memory)


def _family(
    trained: dict[str, dict[str, Any]],
    splits: tuple[dict[str, Tensor], dict[str, Tensor]],
    class_manifest: dict[str, Any],
    params: dict[str, Any],
    dev: torch.device,
) -> SPMFamily:
    images, labels = split_tensors(splits[0], dev)
    config = config_of(params)
    family = SPMFamily(config, class_manifest, images, labels, splits[1]["images"].to(dev), [], [])
    family.models.extend(family.network(row) for row in trained["weights"]["params"])
    memory = trained["memory"]
    family.memories.extend(
        memory_from({name: memory[name][r] for name in MEMORY_FIELDS}, dev)
        for r in range(len(family.models))
    )
    return family


def _scenario_runs(
    family: SPMFamily,
    trained: dict[str, dict[str, Any]],
    retrained: dict[str, dict[str, Any]],
    i: int,
    name: str,
) -> tuple[ScenarioRuns, Tensor]:
    """Scenario ``i``'s runs: every SPM run after its deletion and every retrained SPM (with the
    reference one), and which training samples the deletion kept."""
    unlearned = trained["unlearned_memory"]
    dev = family.images.device
    deleted = [
        replace(
            memory,
            alive=unlearned["alive"][i, r].to(dev),
            class_sums=unlearned["class_sums"][i, r].to(dev),
            class_counts=unlearned["class_counts"][i, r].to(dev),
        )
        for r, memory in enumerate(family.memories)
    ]
    keep = deleted[0].alive
    oracle, replicas = retrained["oracle"], retrained["replicas"]
    reference = metrics.Candidate(
        "spm_oracle",
        family.retrained(oracle["params"][i], keep),
        seconds=float(oracle["seconds"][i]),
    )
    runs = {
        "spm": [
            metrics.Candidate("spm", family.outputs(net, mem), r, float(unlearned["seconds"][i, r]))
            for r, (net, mem) in enumerate(zip(family.models, deleted, strict=True))
        ],
        "spm_oracle": [
            metrics.Candidate(
                "spm_oracle", family.retrained(w, keep), r, float(replicas["seconds"][i, r])
            )
            for r, w in enumerate(replicas["params"][i])
        ],
    }
    return ScenarioRuns(name, i, runs, reference, retrained="spm_oracle"), keep


def score_spm(  # noqa: PLR0913 (the SPM family, its retrained SPMs, and what they are scored on)
    trained: dict[str, dict[str, Any]],
    retrained: dict[str, dict[str, Any]],
    splits: tuple[dict[str, Tensor], dict[str, Tensor]],
    class_manifest: dict[str, Any],
    deletions: list[dict[str, Any]],
    params: dict[str, Any],
    evaluation: EvaluationConfig,
    device: str,
    threads: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, Figure, dict[str, float]]:
    """The SPM's rows of the per-run table (``spm``: every SPM run after deletion;
    ``spm_oracle``: every retrained SPM) and of the forgetting-quality table, per scenario
    (``evaluation.scoring.score_scenario``, ``threads`` runs side by side); and the SPM runs'
    mean agreement with the reference retrained SPM against the agreement of the other
    retrained SPMs with it (table, plot, MLflow metrics).

    ``trained``: the SPM runs' ``weights``, ``memory`` and ``unlearned_memory`` (after each
    scenario's deletion); ``retrained``: the reference ``oracle`` and the ``replicas``."""
    family = _family(trained, splits, class_manifest, params, resolve_device(device))
    train_labels, test_labels = family.labels.cpu(), splits[1]["labels"]
    rows, f_rows, spread = [], [], []
    for i, plan in enumerate(deletions):
        runs, keep = _scenario_runs(family, trained, retrained, i, plan["name"])
        forget = metrics.ForgetSets(
            train_labels, test_labels, ~keep.cpu(), class_mask(test_labels, plan["classes"])
        )
        scored = score_scenario(runs, forget, evaluation, threads)
        rows += scored.rows
        f_rows += scored.f_rows
        agreements = {
            method: torch.tensor(
                [row["agreement_oracle"] for row in scored.rows if row["method"] == method]
            )
            for method in runs.runs
        }
        spread.append(
            {
                "forget_classes": plan["name"],
                **metrics.agreement_spread(
                    float(agreements["spm"].mean()), agreements["spm_oracle"]
                ),
            }
        )
    table = pd.DataFrame(spread)
    _log_agreement(table)
    mlflow_metrics = {  # per scenario: the spm_oracle_spread table (an MLflow artifact too)
        f"spm.oracle_spread.mean.{column}": float(table[column].mean())
        for column in ("retrained_agreement_mean", "method_minus_retrained")
        if not table.empty and table[column].notna().any()
    }
    return (
        pd.DataFrame(rows),
        pd.DataFrame(f_rows),
        table,
        agreement_spread_bars(table, "SPM"),
        mlflow_metrics,
    )


def _log_agreement(table: pd.DataFrame) -> None:
    if table["replicas"].max() > 0:
        logger.info(
            "SPM after deletion agrees with the reference retrained SPM on %.1f%% of the test "
            "set on average; other retrained SPMs agree with it on %.1f%%",
            table["method_agreement"].mean(),
            table["retrained_agreement_mean"].mean(),
        )
