"""Nodes of the evaluation pipeline: thin glue around ``hyperforget.evaluation``."""

from __future__ import annotations

import json
import logging
from typing import Any

import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor

from hyperforget import evaluation
from hyperforget.devices import resolve_device
from hyperforget.params import optional_positive_int, parse_retain_margins
from hyperforget.pipelines.model_zoo.nodes import target_builder
from hyperforget.plots import (
    loss_alignment_panels,
    oracle_agreement_heatmap,
    oracle_spread_panels,
    per_class_accuracy_grid,
)
from hyperforget.unlearning import available_methods

logger = logging.getLogger(__name__)

COLUMNS = [
    "method",
    "forget_classes",
    "acc_forget_train",
    "acc_forget_test",
    "acc_retain_train",
    "acc_retain_test",
    "acc_test",
    "mia_entropy",
    "mia_efficacy",
    "agreement_oracle",
    "kl_oracle",
    "avg_gap",
    "seconds",
    "speedup",
    "prompt_r2",
]
SUMMARY = [
    "acc_forget_test",
    "acc_retain_test",
    "mia_efficacy",
    "agreement_oracle",
    "avg_gap",
    "seconds",
    "speedup",
    "prompt_r2",
]


def _per_class_test_acc(
    outputs: evaluation.Outputs, labels: Tensor, num_classes: int
) -> list[float]:
    return [
        evaluation.accuracy(outputs.test[labels == k], labels[labels == k])
        for k in range(num_classes)
    ]


def evaluate(
    original_weights: dict[str, Any],
    oracle_weights: dict[str, Any],
    train_split: dict[str, Tensor],
    test_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    forget_scenarios: list[dict[str, Any]],
    model: dict[str, Any],
    evaluation_params: dict[str, Any],
    device: str,
    extra_rows: pd.DataFrame,
    **unlearned: dict[str, Any],
) -> tuple[pd.DataFrame, pd.DataFrame, str, Figure, Figure, Figure, dict[str, Any]]:
    """The results table (parquet, CSV and markdown copies), three plots and MLflow metrics.

    ``extra_rows``: rows already computed in the results' columns by model families that are
    not target networks (the SPM and its retrained oracle), appended as they are.
    """
    dev = resolve_device(device)
    build = target_builder(model, class_manifest)
    num_classes = int(class_manifest["num_classes"])
    train_images, test_images = train_split["images"].to(dev), test_split["images"].to(dev)
    train_labels, test_labels = train_split["labels"], test_split["labels"]
    seed = int(evaluation_params["seed"])
    mia_max_samples = optional_positive_int(evaluation_params, "mia_max_samples", "evaluation")

    def outputs(params: Tensor) -> evaluation.Outputs:
        return evaluation.model_outputs(build, params.to(dev), train_images, test_images)

    unlearned = {
        method: weights
        for method, weights in unlearned.items()
        if not json.loads(weights["__metadata__"].get("skipped", "false"))
    }
    original = outputs(original_weights["params"])
    rows, per_class_acc, prompts = [], {}, {}
    for scenario in forget_scenarios:
        name, classes = scenario["name"], tuple(scenario["classes"])
        if len(classes) != 1:
            raise ValueError(f"Scenario {name}: only single-class scenarios have an oracle.")
        k = classes[0]
        oracle_seconds = float(oracle_weights["seconds"][k])
        oracle = outputs(oracle_weights["params"][k])
        candidates = [
            evaluation.Candidate("original", original),
            evaluation.Candidate("oracle", oracle, oracle_seconds),
        ]
        for method, weights in unlearned.items():
            scenarios = json.loads(weights["__metadata__"]["forget_classes"])
            if name not in scenarios:
                raise ValueError(
                    f"{method} has no weights for forget scenario {name}; re-run unlearning."
                )
            i = scenarios.index(name)
            candidates.append(
                evaluation.Candidate(
                    method,
                    outputs(weights["params"][i]),
                    float(weights["seconds"][i]),
                    float(weights["prompt_r2"][i]),
                )
            )
            if not torch.isnan(weights["target_loss"][i]).all():
                prompts.setdefault(method, []).append(
                    (weights["target_loss"][i], weights["observed_loss"][i])
                )
        for c in candidates:
            per_class_acc.setdefault(c.method, []).append(
                _per_class_test_acc(c.outputs, test_labels, num_classes)
            )
        masks = evaluation.class_masks(train_labels, test_labels, classes)
        rows += evaluation.results_rows(
            name, candidates, "oracle", train_labels, test_labels, *masks, seed, mia_max_samples
        )
    table = pd.concat([pd.DataFrame(rows), extra_rows], ignore_index=True)[COLUMNS]
    summary = table.groupby("method", sort=False)[SUMMARY].mean()
    logger.info(
        "Unlearning results, mean over %d forget scenario(s):\n%s",
        len(forget_scenarios),
        summary.round(2).to_string(),
    )
    metrics: dict[str, Any] = {}
    for row in table.to_dict("records"):
        for column in COLUMNS[2:]:
            if not pd.isna(row[column]):
                metrics[f"eval.{row['method']}.c{row['forget_classes']}.{column}"] = {
                    "value": row[column],
                    "step": 0,
                }
    for method, means in summary.iterrows():
        for column, value in means.items():
            if not pd.isna(value):
                metrics[f"eval.{method}.mean.{column}"] = {"value": float(value), "step": 0}
    names = [s["name"] for s in forget_scenarios]
    accuracy_plot = per_class_accuracy_grid(per_class_acc, names)
    alignment_plot = loss_alignment_panels(
        {
            m: (torch.stack([t for t, _ in p]), torch.stack([o for _, o in p]))
            for m, p in prompts.items()
        }
    )
    agreement_plot = oracle_agreement_heatmap(table)
    markdown = table.round(2).to_markdown(index=False)
    return table, table, markdown, accuracy_plot, alignment_plot, agreement_plot, metrics


def evaluate_oracle_spread(
    results_table: pd.DataFrame,
    original_weights: dict[str, Any],
    oracle_replica_weights: dict[str, Any],
    test_split: dict[str, Tensor],
    class_manifest: dict[str, Any],
    forget_scenarios: list[dict[str, Any]],
    model: dict[str, Any],
    device: str,
    retain_margins: Any,
) -> tuple[pd.DataFrame, Figure, pd.DataFrame, dict[str, Any]]:
    """Per forget scenario, how far the oracle's retain-test accuracy moves when it is retrained
    with other seeds (table, plot of every method against that spread, MLflow metrics), and how
    often a retrained replica would itself meet "at least the oracle's minus m points on every
    scenario" for each of ``retain_margins`` (the pass-rate table).
    ``masked_original_retain_test`` is the original with the forgotten classes' outputs ignored:
    where a network that keeps the original's retained losses, as DiHyFo's target asks, lands.

    The oracle's own accuracy is read from the results table, which ``evaluate`` computed."""
    dev = resolve_device(device)
    build = target_builder(model, class_manifest)
    test_images, test_labels = test_split["images"].to(dev), test_split["labels"]
    oracle_rows = results_table[results_table["method"] == "oracle"]
    oracle_acc = oracle_rows.set_index("forget_classes")["acc_retain_test"]
    rows, replica_accuracies = [], []
    for scenario in forget_scenarios:
        classes = tuple(scenario["classes"])
        params = oracle_replica_weights["params"][classes[0]]
        replicas = (
            evaluation.retain_test_accuracy(
                build, params.to(dev), test_images, test_labels, classes
            )
            if len(params)
            else torch.empty(0)
        )
        spread = evaluation.retrain_spread(float(oracle_acc[scenario["name"]]), replicas)
        masked = evaluation.retain_test_accuracy(
            build,
            original_weights["params"][None].to(dev),
            test_images,
            test_labels,
            classes,
            mask_forgotten=True,
        )
        rows.append(
            {
                "forget_classes": scenario["name"],
                **spread,
                "masked_original_retain_test": float(masked[0]),
            }
        )
        replica_accuracies.append(replicas.cpu())
    table = pd.DataFrame(rows)
    pass_table = pd.DataFrame(
        evaluation.retrain_pass_rates(
            torch.tensor(table["oracle_retain_test"].to_numpy()),
            torch.stack(replica_accuracies),
            parse_retain_margins(retain_margins),
        )
    )
    for row in pass_table.to_dict("records"):
        logger.info(
            "Retraining with another seed keeps retain-test within %g points of the oracle on "
            "every scenario for %d of %d seeds (%d scenario misses, worst %+.2f)",
            row["margin"],
            row["replicas_passing"],
            row["replicas"],
            row["misses"],
            row["worst_gap"],
        )
    logger.info(
        "Oracle retrained with %d seeds per scenario: retain-test accuracy sd %.2f on average "
        "(largest %.2f); the reference oracle is %+.2f points from its replicas' mean on average",
        int(table["retrained"].max()),
        table["retrained_sd"].mean(),
        table["retrained_sd"].max(),
        table["oracle_minus_replicas"].mean(),
    )
    masked_gap = table["masked_original_retain_test"] - table["oracle_retain_test"]
    logger.info(
        "The original with the forgotten classes' outputs ignored (what DiHyFo's target asks "
        "for on the retained classes) is %+.2f points from the oracle on average, %+.2f at worst "
        "(scenario %s)",
        masked_gap.mean(),
        masked_gap.min(),
        table["forget_classes"][masked_gap.idxmin()],
    )
    metrics = {
        f"eval.oracle_spread.c{row['forget_classes']}.{column}": {"value": row[column], "step": 0}
        for row in rows
        for column in ("retrained_sd", "oracle_minus_replicas", "masked_original_retain_test")
        if not pd.isna(row[column])
    }
    metrics |= {
        f"eval.retrain_pass.within_{row['margin']:g}.share_passing": {
            "value": row["share_passing"],
            "step": 0,
        }
        for row in pass_table.to_dict("records")
        if not pd.isna(row["share_passing"])
    }
    # Target-network rows only: the SPM's rows have their own oracle, another model family.
    target_methods = {"original", *available_methods()}
    methods = [m for m in dict.fromkeys(results_table["method"]) if m in target_methods]
    return table, oracle_spread_panels(table, results_table, methods), pass_table, metrics
