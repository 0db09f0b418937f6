"""The SPM's rows of the benchmark: every SPM run after deletion (``spm``) and every retrained
SPM (``spm_oracle``) scored per scenario, their forgetting quality, and how well the SPM runs
agree with the reference retrained SPM against how well other retrained SPMs do."""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Any

import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor

from hyperforget.core.data import split_tensors
from hyperforget.core.devices import resolve_device
from hyperforget.core.flat_params import load_flat_into
from hyperforget.core.params import optional_positive_int
from hyperforget.evaluation import distribution, forgetting, metrics
from hyperforget.evaluation.plots import agreement_spread_bars
from hyperforget.spm import memory as spm_memory
from hyperforget.spm import model as spm_model
from hyperforget.spm.runs import MEMORY_FIELDS, build_model, config_of, memory_from

logger = logging.getLogger(__name__)


def score_spm(  # noqa: PLR0915 (one scenario loop, read top to bottom)
    trained: dict[str, dict[str, Any]],
    retrained: dict[str, dict[str, Any]],
    splits: tuple[dict[str, Tensor], dict[str, Tensor]],
    class_manifest: dict[str, Any],
    deletions: list[dict[str, Any]],
    params: dict[str, Any],
    evaluation_params: dict[str, Any],
    device: str,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, Figure, dict[str, Any]]:
    """The SPM's rows of the per-run table (``spm``: every SPM run after deletion;
    ``spm_oracle``: every retrained SPM) and of the forgetting-quality table, per scenario; and
    the SPM runs' mean agreement with the reference retrained SPM against the agreement of the
    other retrained SPMs with it (table, plot, MLflow metrics).

    ``trained``: the SPM runs' ``weights``, ``memory`` and ``unlearned_memory`` (after each
    scenario's deletion); ``retrained``: the reference ``oracle`` and the ``replicas``."""
    spm_weights, spm_memory = trained["weights"], trained["memory"]
    spm_unlearned_memory = trained["unlearned_memory"]
    spm_oracle_weights, spm_oracle_replica_weights = retrained["oracle"], retrained["replicas"]
    train_split, test_split = splits
    dev = resolve_device(device)
    config = config_of(params)
    images, labels = split_tensors(train_split, dev)
    test_images, test_labels = split_tensors(test_split, dev)
    num_classes = int(class_manifest["num_classes"])
    models = [
        load_flat_into(build_model(config, class_manifest).to(dev), row.to(dev))
        for row in spm_weights["params"]
    ]
    memories = [
        memory_from({name: spm_memory[name][r] for name in MEMORY_FIELDS}, dev)
        for r in range(len(models))
    ]
    seed = int(evaluation_params["seed"])
    mia_max_samples = optional_positive_int(evaluation_params, "mia_max_samples", "evaluation")
    forget_examples = optional_positive_int(evaluation_params, "forget_examples", "evaluation")

    def predict(net: spm_model.SemiParametric, mem: spm_memory.Memory, inputs: Tensor) -> Tensor:
        return spm_memory.predict(net, mem, inputs, config.mode, config.neighbours).cpu()

    def outputs(net: spm_model.SemiParametric, mem: spm_memory.Memory) -> metrics.Outputs:
        return metrics.Outputs(predict(net, mem, images), predict(net, mem, test_images))

    def retrained(weights: Tensor, keep: Tensor) -> metrics.Outputs:
        """A retrained SPM's outputs, with its memory of the samples it was trained on."""
        net = load_flat_into(build_model(config, class_manifest).to(dev), weights.to(dev))
        memory = spm_memory.build_memory(
            net, images[keep], labels[keep], memories[0].sample_ids[keep], num_classes
        )
        return outputs(net, memory)

    rows, f_rows, spread = [], [], []
    train_labels, test_labels = labels.cpu(), test_labels.cpu()
    for i, plan in enumerate(deletions):
        deleted = [
            replace(
                memory,
                alive=spm_unlearned_memory["alive"][i, r].to(dev),
                class_sums=spm_unlearned_memory["class_sums"][i, r].to(dev),
                class_counts=spm_unlearned_memory["class_counts"][i, r].to(dev),
            )
            for r, memory in enumerate(memories)
        ]
        keep = deleted[0].alive
        reference = metrics.Candidate(
            "spm_oracle",
            retrained(spm_oracle_weights["params"][i], keep),
            seconds=float(spm_oracle_weights["seconds"][i]),
        )
        runs = {
            "spm": [
                metrics.Candidate(
                    "spm", outputs(net, mem), r, float(spm_unlearned_memory["seconds"][i, r])
                )
                for r, (net, mem) in enumerate(zip(models, deleted, strict=True))
            ],
            "spm_oracle": [
                metrics.Candidate(
                    "spm_oracle",
                    retrained(w, keep),
                    r,
                    float(spm_oracle_replica_weights["seconds"][i, r]),
                )
                for r, w in enumerate(spm_oracle_replica_weights["params"][i])
            ],
        }
        f_train = ~keep.cpu()
        _, f_test = metrics.class_masks(train_labels, test_labels, tuple(plan["classes"]))
        scenario_rows = metrics.run_rows(
            plan["name"],
            [c for candidates in runs.values() for c in candidates],
            reference,
            train_labels,
            test_labels,
            f_train,
            f_test,
            seed,
            mia_max_samples,
        )
        rows += scenario_rows
        examples = forgetting.example_sample(f_train, forget_examples, seed + i)

        def confidences(candidates, examples=examples) -> Tensor:
            return torch.stack(
                [
                    forgetting.logit_confidence(c.outputs.train[examples], train_labels[examples])
                    for c in candidates
                ]
            )

        quality, ceiling = distribution.forgetting_qualities(
            confidences(runs["spm"]), confidences(runs["spm_oracle"]), seed + i
        )
        f_rows += [
            {
                "method": method,
                "forget_classes": plan["name"],
                "forgetting_quality": value,
                "retrained_forgetting_quality": ceiling,
            }
            for method, value in (("spm", quality), ("spm_oracle", ceiling))
        ]
        agreements = {
            method: torch.tensor(
                [row["agreement_oracle"] for row in scenario_rows if row["method"] == method]
            )
            for method in runs
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
    if table["replicas"].max() > 0:
        logger.info(
            "SPM after deletion agrees with the reference retrained SPM on %.1f%% of the test "
            "set on average; other retrained SPMs agree with it on %.1f%%",
            table["method_agreement"].mean(),
            table["retrained_agreement_mean"].mean(),
        )
    mlflow_metrics = {
        f"spm.oracle_spread.{row['forget_classes']}.{column}": {"value": row[column], "step": 0}
        for row in spread
        for column in ("retrained_agreement_mean", "method_minus_retrained")
        if not math.isnan(row[column])
    }
    return (
        pd.DataFrame(rows),
        pd.DataFrame(f_rows),
        table,
        agreement_spread_bars(table, "SPM"),
        mlflow_metrics,
    )
