"""One forget scenario's runs scored, the same way for every model family: a row per run (every
metric against the reference retrained model) and a row per method of forgetting quality F
against the scenario's retrained models. The target network's report and the SPM's stage both
call :func:`score_scenario`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from hyperforget.evaluation import distribution, forgetting, metrics
from hyperforget.evaluation.config import EvaluationConfig

# methods that are one model, not M runs: their F compares M copies of it (it never forgot)
ONE_MODEL = ("original",)


@dataclass(frozen=True)
class ScenarioRuns:
    """Every run to score on one scenario (the ``index``-th): per method its candidates, among
    them the ``retrained`` models (the key of ``runs`` they are under), and the ``reference``
    retrained model that agreement, KL and speed-up are measured against."""

    name: str
    index: int
    runs: dict[str, list[metrics.Candidate]]
    reference: metrics.Candidate
    retrained: str = "oracle"


@dataclass
class ScenarioScores:
    rows: list[dict[str, Any]]  # the per-run table's rows
    f_rows: list[dict[str, Any]]  # the forgetting-quality table's rows


def score_scenario(
    scenario: ScenarioRuns,
    forget: metrics.ForgetSets,
    config: EvaluationConfig,
    threads: int = 1,
) -> ScenarioScores:
    """The per-run rows of every candidate (``threads`` side by side) and the F rows of every
    method of ``scenario``. The attacks use ``config.seed``; the forget examples of F and its
    pairing use ``seed`` plus the scenario's index, so scenarios draw independent samples."""
    candidates = [c for method_runs in scenario.runs.values() for c in method_runs]
    rows = metrics.run_rows(
        scenario.name,
        candidates,
        scenario.reference,
        forget,
        config.seed,
        config.mia_max_samples,
        threads,
    )
    seed = config.seed + scenario.index
    examples = forgetting.example_sample(forget.train, config.forget_examples, seed)
    f_rows = forgetting_rows(
        scenario,
        forget.train_labels,
        examples,
        config.method_runs,
        seed,
        config.forgetting_estimator,
    )
    return ScenarioScores(rows, f_rows)


def forgetting_rows(  # noqa: PLR0913 (the scenario's runs, its examples and how F is drawn)
    scenario: ScenarioRuns,
    train_labels: Tensor,
    examples: Tensor,
    method_runs: int,
    seed: int,
    estimator: str = "reference",
) -> list[dict[str, Any]]:
    """F of every method on one scenario from its forget ``examples``' confidences, and the
    retrained models' own F (retraining scored against itself: the ceiling at this number of
    runs), which every row carries as ``retrained_forgetting_quality``."""
    labels = train_labels[examples]

    def confidences(candidates: list[metrics.Candidate]) -> Tensor:
        return torch.stack(
            [forgetting.logit_confidence(c.outputs.train[examples], labels) for c in candidates]
        )

    retrained = confidences(scenario.runs[scenario.retrained])
    rows, ceiling = [], math.nan
    for method, candidates in scenario.runs.items():
        if method == scenario.retrained:
            continue
        method_confidences = confidences(candidates)
        if method in ONE_MODEL:
            method_confidences = method_confidences.expand(method_runs, -1)
        quality, ceiling = distribution.forgetting_qualities(
            method_confidences, retrained, seed, estimator
        )
        rows.append({"method": method, "forgetting_quality": quality})
    rows.append({"method": scenario.retrained, "forgetting_quality": ceiling})
    return [
        {
            "method": row["method"],
            "forget_classes": scenario.name,
            "forgetting_quality": row["forgetting_quality"],
            "retrained_forgetting_quality": ceiling,
        }
        for row in rows
    ]
