"""The benchmark's report: every run of every method scored per forget scenario against the
retrained distribution (the per-run and results tables, warnings for what was not forgotten or
cannot be trusted, plots and MLflow metrics), and how far retraining alone moves retain-test
accuracy (the oracle spread).

Agreement and KL compare with the reference oracle (trained alone; its seconds give the
speed-up); accuracies and MIA are judged against the retrained models. The SPM's rows arrive
computed by its own stage (another model family, with its own retrained SPMs).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn
from tqdm.auto import tqdm

from hyperforget.core.console import show_table
from hyperforget.core.scenario import ForgetScenario, scenario_names
from hyperforget.evaluation import distribution, metrics
from hyperforget.evaluation.config import EvaluationConfig
from hyperforget.evaluation.intervals import mean_ci
from hyperforget.evaluation.plots import (
    final_score_bars,
    loss_alignment_panels,
    oracle_agreement_heatmap,
    per_class_accuracy_grid,
)
from hyperforget.evaluation.scoring import ScenarioRuns, score_scenario
from hyperforget.unlearning.api import not_applicable
from hyperforget.zoo import recipe
from hyperforget.zoo.references import reference_row

logger = logging.getLogger(__name__)

# the per-run table's metrics, each summarised over runs in the results table
METRICS = [
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
RUN_COLUMNS = ["method", "forget_classes", "run", *METRICS]
SUMMARY = [
    "acc_forget_test",
    "acc_retain_test",
    "mia_efficacy",
    "agreement_oracle",
    "forgetting_quality",
    "relative_forgetting_quality",
    "final_score",
    "seconds",
]
SPM_METHODS = ("spm", "spm_oracle")


def retrained_of(method: str) -> str:
    """The retrained distribution a method's runs are judged against."""
    return "spm_oracle" if method in SPM_METHODS else "oracle"


def check_scenarios(name: str, metadata: dict[str, str], scenarios: list[str]) -> None:
    saved = json.loads(metadata.get("scenarios") or metadata.get("forget_classes") or "[]")
    if saved != scenarios:
        raise ValueError(
            f"{name} holds forget scenarios {saved}, but this run evaluates {scenarios}; re-run "
            "the pipeline that wrote it (e.g. kedro run --pipeline unlearn)."
        )


@dataclass
class Report:
    """What the evaluation writes: the results table (per method and scenario), the per-run
    table, the results as markdown, its four plots and the MLflow metrics."""

    table: pd.DataFrame
    runs_table: pd.DataFrame
    markdown: str
    plots: tuple[Figure, Figure, Figure, Figure]
    mlflow_metrics: dict[str, float]


@dataclass
class _Scores:
    rows: list[dict[str, Any]] = field(default_factory=list)
    f_rows: list[dict[str, Any]] = field(default_factory=list)
    per_class_acc: dict[str, list[list[float]]] = field(default_factory=dict)
    prompts: dict[str, list[tuple[Tensor, Tensor]]] = field(default_factory=dict)


def unlearned_to_score(
    unlearned: dict[str, dict[str, Any]],
    scenarios: list[ForgetScenario],
    requested: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The methods' weights to score: those ``unlearning.run`` asks for (``requested``; null:
    every method that ran), each checked to hold this run's scenarios. A method asked for whose
    weights are an empty result (it was left out of the run that made them) is refused."""
    ran = {
        method: weights
        for method, weights in unlearned.items()
        if not json.loads(weights["__metadata__"].get("skipped", "false"))
    }
    if requested is not None:
        not_run = [method for method in requested if method not in ran]
        if not_run:
            raise ValueError(
                f"unlearning.run asks to score {', '.join(not_run)}, but the lineage's unlearned "
                "weights hold no run of it (left out of unlearning.run when they were made). "
                f"Run it first: kedro run --pipelines unlearning,evaluation --params "
                f'"unlearning.run=[{" ".join(requested)}]".'
            )
        ran = {method: ran[method] for method in requested}
    elif len(ran) < len(unlearned):
        logger.info(
            "Not scored (left out of unlearning.run in the run that made their weights): %s",
            ", ".join(sorted(set(unlearned) - set(ran))),
        )
    names = scenario_names(scenarios)
    for method, weights in ran.items():
        check_scenarios(f"{method}_unlearned_weights", weights["__metadata__"], names)
    return ran


def _per_class_test_acc(outputs: metrics.Outputs, labels: Tensor, num_classes: int) -> list[float]:
    return [
        metrics.accuracy(outputs.test[labels == k], labels[labels == k]) for k in range(num_classes)
    ]


def _method_candidates(
    method: str, weights: dict[str, Any], i: int, outputs: Callable[[Tensor], metrics.Outputs]
) -> list[metrics.Candidate]:
    return [
        metrics.Candidate(
            method,
            outputs(params),
            r,
            float(weights["seconds"][i, r]),
            float(weights["prompt_r2"][i, r]),
        )
        for r, params in enumerate(weights["params"][i])
    ]


@dataclass(frozen=True)
class Benchmark:
    """What every run is scored on: the target network (``build``, ``num_classes``), the
    ``original``, reference ``oracle`` and ``retrained`` models (``weights``), each method's
    runs (``unlearned``), the train and test splits, the scenarios, ``evaluation.*`` and the
    device."""

    build: Callable[[], nn.Module]
    num_classes: int
    weights: dict[str, dict[str, Any]]
    unlearned: dict[str, dict[str, Any]]
    splits: tuple[dict[str, Tensor], dict[str, Tensor]]
    scenarios: list[ForgetScenario]
    config: EvaluationConfig
    device: torch.device

    @cached_property
    def images(self) -> tuple[Tensor, Tensor]:
        """The train and test images, on the device."""
        train_split, test_split = self.splits
        return train_split["images"].to(self.device), test_split["images"].to(self.device)

    def outputs(self, params: Tensor) -> metrics.Outputs:
        return metrics.model_outputs(self.build, params.to(self.device), *self.images)


def _scenario_runs(bench: Benchmark, i: int, original: metrics.Outputs) -> ScenarioRuns:
    """Scenario ``i``'s runs: the original, the retrained models and every method's runs, and
    the reference oracle retrained for its class."""
    weights, scenario = bench.weights, bench.scenarios[i]
    k = reference_row(weights["oracle"], scenario)
    oracle_seconds = float(weights["oracle"]["seconds"][k])
    reference = metrics.Candidate(
        "oracle", bench.outputs(weights["oracle"]["params"][k]), seconds=oracle_seconds
    )
    # every retrained model counts the reference's seconds: they train batched, alone
    # each would take what the reference took
    runs = {
        "original": [metrics.Candidate("original", original)],
        "oracle": [
            metrics.Candidate("oracle", bench.outputs(params), r, oracle_seconds)
            for r, params in enumerate(weights["retrained"]["params"][i])
        ],
    }
    for method, method_weights in bench.unlearned.items():
        if scenario.name not in not_applicable(method_weights):
            runs[method] = _method_candidates(method, method_weights, i, bench.outputs)
    return ScenarioRuns(scenario.name, i, runs, reference)


def _score_scenarios(bench: Benchmark, threads: int) -> _Scores:
    """Every run of the original, the retrained models and every method, per scenario
    (``threads`` runs side by side)."""
    train_labels, test_labels = (split["labels"] for split in bench.splits)
    check_scenarios(
        "retrained_weights",
        bench.weights["retrained"]["__metadata__"],
        scenario_names(bench.scenarios),
    )
    original, scores = bench.outputs(bench.weights["original"]["params"]), _Scores()
    for i, scenario in enumerate(tqdm(bench.scenarios, desc="evaluate scenarios")):
        runs = _scenario_runs(bench, i, original)
        forget = metrics.ForgetSets.of(scenario, train_labels, test_labels)
        scored = score_scenario(runs, forget, bench.config, threads)
        scores.rows += scored.rows
        scores.f_rows += scored.f_rows
        for method, method_weights in bench.unlearned.items():
            if not torch.isnan(method_weights["target_loss"][i]).all():
                scores.prompts.setdefault(method, []).extend(
                    zip(
                        method_weights["target_loss"][i],
                        method_weights["observed_loss"][i],
                        strict=True,
                    )
                )
        for method in bench.unlearned.keys() - runs.runs.keys():  # not applicable: a gap
            scores.per_class_acc.setdefault(method, []).append([math.nan] * bench.num_classes)
        for method, method_runs in runs.runs.items():
            scores.per_class_acc.setdefault(method, []).append(
                torch.tensor(
                    [
                        _per_class_test_acc(c.outputs, test_labels, bench.num_classes)
                        for c in method_runs
                    ]
                )
                .nanmean(0)
                .tolist()
            )
    return scores


def evaluate_benchmark(
    bench: Benchmark, spm_tables: tuple[pd.DataFrame, pd.DataFrame], threads: int = 1
) -> Report:
    """Score every run (``_score_scenarios``, ``threads`` runs side by side), add the SPM's
    rows (``spm_tables``: its per-run and forgetting-quality rows), summarise per method and
    scenario against the retrained distribution (``retrained_of(method)``), warn about what was
    not forgotten or cannot be trusted, and draw the plots."""
    scores = _score_scenarios(bench, threads)
    scenarios = bench.scenarios
    spm_runs, spm_forgetting = spm_tables
    runs_table = distribution.add_avg_gap(
        pd.concat([pd.DataFrame(scores.rows), spm_runs], ignore_index=True), retrained_of
    )[RUN_COLUMNS]
    qualities = pd.concat([pd.DataFrame(scores.f_rows), spm_forgetting], ignore_index=True)
    verdicts = distribution.Verdicts(bench.config.forgot_tolerance, bench.config.retrain_max_drop)
    table = distribution.summary_table(runs_table, qualities, METRICS, retrained_of, verdicts)
    table["poor_original"] = _poor_original(bench.weights["original"], table["method"])
    _warn_about_verdicts(table, verdicts)
    overview = _overview(table)
    unanswered = _not_applicable_rows(bench.unlearned)
    show_table(
        logger,
        f"Unlearning results, mean over {len(scenarios)} forget scenario(s) "
        "(in_retrained_95: scenarios whose retain-test mean lies in the retrained central 95%; "
        "forgot: scenarios forgotten); per scenario in data/08_reporting/results.md",
        overview.round(3),
    )
    prompts = {
        m: (torch.stack([t for t, _ in p]), torch.stack([o for _, o in p]))
        for m, p in scores.prompts.items()
    }
    plots = (
        per_class_accuracy_grid(scores.per_class_acc, scenario_names(scenarios)),
        loss_alignment_panels(prompts),
        oracle_agreement_heatmap(table),
        final_score_bars(_score_intervals(table)),
    )
    shown = distribution.with_intervals(table, SUMMARY_INTERVALS)
    markdown = pd.concat([shown, unanswered], ignore_index=True).to_markdown(index=False)
    metrics_of_runs = _mlflow_metrics(table, overview)
    table = pd.concat([table, unanswered], ignore_index=True) if len(unanswered) else table
    return Report(table, runs_table, markdown, plots, metrics_of_runs)


def _not_applicable_rows(unlearned: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """A row per method and scenario it cannot answer (``not_applicable``: the reason), after
    the scored rows: no scores, and no verdict."""
    rows = [
        {"method": method, "forget_classes": name, "not_applicable": reason}
        for method, weights in unlearned.items()
        for name, reason in not_applicable(weights).items()
    ]
    return pd.DataFrame(rows, columns=["method", "forget_classes", "not_applicable"])


SUMMARY_INTERVALS = [
    "acc_forget_test",
    "acc_retain_test",
    "acc_test",
    "mia_efficacy",
    "agreement_oracle",
    "avg_gap",
    "seconds",
]


def _poor_original(original_weights: dict[str, Any], methods: pd.Series) -> pd.Series:
    """Per row, whether it rests on an original the run found poor (``model_zoo.competence``,
    ``on_poor: mark``); the SPM's rows rest on their own classifier. Missing (NA) for weights
    saved before the check."""
    poor = recipe.original_is_poor(original_weights)
    flags = methods.map(lambda m: bool(poor) and retrained_of(m) == "oracle")
    return (
        flags.astype("boolean") if poor is not None else pd.Series(pd.NA, methods.index, "boolean")
    )


def _warn_about_verdicts(table: pd.DataFrame, verdicts: distribution.Verdicts) -> None:
    """A warning for every method and scenario it did not forget, and for every scenario whose
    retrained distribution cannot serve as the reference."""
    for row in table[~table["forgot"] & (table["method"] != "original")].to_dict("records"):
        logger.warning(
            "%s did NOT forget scenario %s: forget-train %.2f%%, forget-test %.2f%% (mean of %d "
            "runs, %d forgot) against retraining's 95%% range + %g points; its row says "
            "forgot: false",
            row["method"],
            row["forget_classes"],
            row["acc_forget_train"],
            row["acc_forget_test"],
            row["runs"],
            row["runs_forgot"],
            verdicts.forgot_tolerance,
        )
    if table["poor_original"].fillna(False).any():
        logger.warning(
            "Every row of the target network rests on a POOR original (far below the "
            "logistic-regression reference on val; see model_zoo.competence): its rows say "
            "poor_original: true"
        )
    reliable = table["retrained_reliable"].fillna(True).astype(bool)
    unreliable = table[(table["method"] == "oracle") & ~reliable]
    for row in unreliable.to_dict("records"):
        logger.warning(
            "The retrained models of scenario %s are UNRELIABLE: their mean retain-test accuracy "
            "%.2f%% is more than %g points under the original's; every gap to retraining on this "
            "scenario is marked retrained_reliable: false (the retraining recipe does not fit "
            "this data)",
            row["forget_classes"],
            row["acc_retain_test"],
            verdicts.retrain_max_drop,
        )


def _overview(table: pd.DataFrame) -> pd.DataFrame:
    """Per method, means over scenarios, and on how many its retain-test mean is inside the
    retrained central 95% range."""
    overview = table.groupby("method", sort=False)[SUMMARY].mean()
    inside = table.groupby("method", sort=False)["acc_retain_test_in_retrained_95"]
    overview["in_retrained_95"] = (
        inside.sum().astype(int).astype(str) + "/" + inside.size().astype(str)
    )
    forgot = table.groupby("method", sort=False)["forgot"]
    overview["forgot"] = forgot.sum().astype(int).astype(str) + "/" + forgot.size().astype(str)
    return overview


def _score_intervals(table: pd.DataFrame) -> pd.DataFrame:
    """Per method, the mean final score over scenarios with its 95% CI over scenarios, and the
    mean F retraining scores against itself (the ceiling at this number of runs)."""
    rows = []
    for method, group in table.groupby("method", sort=False):
        ci = mean_ci(group["final_score"].to_numpy())
        rows.append(
            {
                "method": method,
                "final_score": ci.mean,
                "ci_low": ci.low,
                "ci_high": ci.high,
                "retrained_forgetting_quality": group["retrained_forgetting_quality"].mean(),
            }
        )
    return pd.DataFrame(rows)


# the per-method summary MLflow shows at the top level, ``<method>.<name>``: means over the
# forget scenarios of the results table's columns (the per-scenario rows are the results table,
# logged as the run's ``results.csv``)
MLFLOW_SUMMARY = {
    "final_score": "final_score",
    "relative_f": "relative_forgetting_quality",
    "forgetting_quality": "forgetting_quality",
    "retain_test": "acc_retain_test",
    "forget_test": "acc_forget_test",
    "seconds": "seconds",
}


def _mlflow_metrics(table: pd.DataFrame, overview: pd.DataFrame) -> dict[str, float]:
    """Per method: the means of ``MLFLOW_SUMMARY``, the share of scenarios it forgot and the
    share whose retain-test mean is inside the retrained central 95% range."""
    values: dict[str, float] = {}
    for method, means in overview.iterrows():
        for name, column in MLFLOW_SUMMARY.items():
            value = means[column]
            if not pd.isna(value) and math.isfinite(value):
                values[f"{method}.{name}"] = float(value)
    grouped = table.groupby("method", sort=False)
    for method, share in grouped["forgot"].mean().items():
        values[f"{method}.share_forgot"] = float(share)
    inside = grouped["acc_retain_test_in_retrained_95"]
    for method, share in inside.apply(lambda s: s.astype(float).mean()).items():
        if not pd.isna(share):
            values[f"{method}.share_retain_in_band"] = float(share)
    return values
