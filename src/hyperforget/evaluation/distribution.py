"""A method's runs on one forget scenario judged against the retrained distribution.

Each metric of the M method runs becomes a mean with its 95% CI, the z of that mean among the
R retrained models and whether it lies inside their central 95% range. The NeurIPS 2023
challenge's final score multiplies the forgetting quality F by the retain and test accuracy
relative to retraining's. F compares equally many models per side, so the M runs are paired
with M of the R retrained models, drawn without replacement with a seed.

F's estimator has a finite-sample floor: at M models per side even two samples of one
distribution score well under 1 (about 0.25 at M = 5). So M other retrained models are scored
against the same M the method faces (``retrained_forgetting_quality``, needs R >= 2M), and
``relative_forgetting_quality`` = F / that: about 1 for a method that forgets like retraining,
0 for one that never forgot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from hyperforget.evaluation.forgetting import forgetting_quality
from hyperforget.evaluation.intervals import (
    central_range,
    inside_central_range,
    mean_ci,
    z_score,
)

# the columns whose mean absolute gap to the retrained means is ``avg_gap``
GAP_METRICS = ("acc_forget_test", "acc_retain_test", "acc_test", "mia_efficacy")
KEYS = ["method", "forget_classes"]


def summarise_runs(
    runs: pd.DataFrame, retrained: pd.DataFrame, metrics: Sequence[str]
) -> dict[str, float | bool]:
    """Per metric: ``<m>`` (mean), ``<m>_ci_low``, ``<m>_ci_high``, ``<m>_z`` and
    ``<m>_in_retrained_95``, from one row per method run and one per retrained model."""
    row: dict[str, float | bool] = {"runs": len(runs), "retrained_runs": len(retrained)}
    for metric in metrics:
        ci = mean_ci(runs[metric].to_numpy())
        reference = retrained[metric].dropna().to_numpy()
        row[metric] = ci.mean
        row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = ci.low, ci.high
        comparable = len(reference) > 0 and not math.isnan(ci.mean)
        row[f"{metric}_z"] = z_score(ci.mean, reference) if comparable else math.nan
        row[f"{metric}_in_retrained_95"] = comparable and inside_central_range(ci.mean, reference)
    return row


@dataclass(frozen=True)
class Verdicts:
    """The bars that make a row trustworthy (``evaluation.forgot_tolerance``,
    ``evaluation.retrain_max_drop``, in accuracy points; their values live in conf/)."""

    forgot_tolerance: float
    retrain_max_drop: float


FORGET_METRICS = ("acc_forget_train", "acc_forget_test")
SAMPLE_FORGET_METRICS = ("acc_forget_train", "mia_efficacy")


def forgot(runs: pd.DataFrame, retrained: pd.DataFrame, tolerance: float) -> dict[str, object]:
    """Did the method forget? For a class scenario, on forget-train (what a method may see)
    and forget-test, its mean must lie at most ``tolerance`` points above the retrained central
    95% range. A sample-wise scenario (no forgotten test class: retrained models still classify
    most such samples correctly) is forgotten when forget-train accuracy and MIA efficacy both
    lie inside that range, give or take ``tolerance``: less recognition than retraining's is as
    telling as more. ``runs_forgot`` counts the runs that meet the same bars one by one."""
    sample_wise = "acc_forget_test" in retrained and retrained["acc_forget_test"].isna().all()
    mean_ok, run_ok = True, np.ones(len(runs), dtype=bool)
    for metric in SAMPLE_FORGET_METRICS if sample_wise else FORGET_METRICS:
        if metric not in retrained or metric not in runs:
            continue
        reference = retrained[metric].dropna().to_numpy()
        values = runs[metric].to_numpy(dtype=float)
        if len(reference) == 0 or np.isnan(values).all():
            continue
        low, high = central_range(reference)
        low = low - tolerance if sample_wise else -np.inf
        high = high + tolerance
        mean = np.nanmean(values)
        mean_ok &= bool(low <= mean <= high)
        run_ok &= (values >= low) & (values <= high)
    return {"forgot": mean_ok, "runs_forgot": int(run_ok.sum())}


def retrained_reliable(
    retrained: pd.DataFrame, original: pd.DataFrame, max_drop: float
) -> bool | None:
    """Is the retrained distribution a reference to trust? Retraining without a class should
    keep the retained classes about as well as the original: a retrained mean retain-test more
    than ``max_drop`` points under the original's means the recipe failed on this data, and
    every gap to it is unreliable. None where there is no original to compare with."""
    if original.empty or retrained.empty:
        return None
    return bool(
        retrained["acc_retain_test"].mean() >= original["acc_retain_test"].mean() - max_drop
    )


def paired_retrained(num_retrained: int, num_runs: int, seed: int) -> np.ndarray:
    """Which ``num_runs`` of the ``num_retrained`` models face the method's runs in F."""
    if num_runs > num_retrained:
        raise ValueError(
            f"Forgetting quality pairs each of the {num_runs} method runs with its own retrained "
            f"model, but there are {num_retrained}; raise evaluation.oracle_runs to at least "
            f"{num_runs} or lower evaluation.method_runs."
        )
    return np.sort(np.random.default_rng(seed).permutation(num_retrained)[:num_runs])


def final_score(
    forgetting_quality: float,
    retain_accuracy: float,
    retrained_retain_accuracy: float,
    test_accuracy: float,
    retrained_test_accuracy: float,
) -> float:
    """The challenge's score: F x (RA / RA_retrained) x (TA / TA_retrained), accuracies being
    means over the method's runs and over the retrained models."""
    return (
        forgetting_quality
        * (retain_accuracy / retrained_retain_accuracy)
        * (test_accuracy / retrained_test_accuracy)
    )


def relative_quality(quality: float, retrained_quality: float) -> float:
    """F over the F retraining scores against itself at the same number of runs (nan where that
    is unknown or 0); not clipped, so noise can put a retraining-like method above 1."""
    if math.isnan(retrained_quality) or retrained_quality <= 0:
        return math.nan
    return quality / retrained_quality


def add_avg_gap(runs: pd.DataFrame, retrained_of: Callable[[str], str]) -> pd.DataFrame:
    """``runs`` with ``avg_gap``: per run, the mean absolute difference of ``GAP_METRICS`` to the
    mean of the retrained models of its scenario (``retrained_of(method)`` names them)."""
    means = runs.groupby(KEYS, sort=False)[list(GAP_METRICS)].mean()
    reference = means.reindex(
        pd.MultiIndex.from_arrays([runs["method"].map(retrained_of), runs["forget_classes"]])
    )
    gaps = pd.DataFrame(np.abs(runs[list(GAP_METRICS)].to_numpy() - reference.to_numpy()))
    return runs.assign(avg_gap=gaps.mean(axis=1, skipna=True).to_numpy())


def forgetting_qualities(
    method_confidences: torch.Tensor,
    retrained_confidences: torch.Tensor,
    seed: int,
    estimator: str = "reference",
) -> tuple[float, float]:
    """F of a method's M runs (``[M, E]`` forget-example confidences) against M of the R
    retrained models (``[R, E]``, the ``paired_retrained`` ones), and the same F of M other
    retrained models against those: what retraining itself scores at this M (nan when
    R < 2M). A method that copies one model M times (the original) is maximally peaky: F = 0."""
    runs = method_confidences.shape[0]
    paired = paired_retrained(retrained_confidences.shape[0], runs, seed)
    method_f = forgetting_quality(method_confidences, retrained_confidences[paired], estimator)
    others = np.setdiff1d(np.arange(retrained_confidences.shape[0]), paired)
    if len(others) < runs:
        return method_f, math.nan
    chosen = np.sort(np.random.default_rng(seed + 1).permutation(others)[:runs])
    return method_f, forgetting_quality(
        retrained_confidences[chosen], retrained_confidences[paired], estimator
    )


def summary_table(
    runs: pd.DataFrame,
    forgetting: pd.DataFrame,
    metrics: Sequence[str],
    retrained_of: Callable[[str], str],
    verdicts: Verdicts,
) -> pd.DataFrame:
    """One row per method and scenario: ``summarise_runs`` of ``metrics`` against that
    scenario's retrained models, F and retraining's own F at the same number of runs (from
    ``forgetting``: ``method, forget_classes, forgetting_quality, retrained_forgetting_quality``),
    their ratio, the final score (retain accuracy: the retain-train set's, as the
    challenge's), whether the method ``forgot`` and whether the scenario's retrained
    distribution is ``retrained_reliable`` against the ``original`` rows (``verdicts``)."""
    f_by_key = forgetting.set_index(KEYS)
    rows = []
    for (method, scenario), group in runs.groupby(KEYS, sort=False):
        retrained = runs[
            (runs["method"] == retrained_of(method)) & (runs["forget_classes"] == scenario)
        ]
        original = runs[(runs["method"] == "original") & (runs["forget_classes"] == scenario)]
        row = {"method": method, "forget_classes": scenario}
        row |= summarise_runs(group, retrained, metrics)
        row |= forgot(group, retrained, verdicts.forgot_tolerance)
        same_family = retrained_of(method) == retrained_of("original")
        row["retrained_reliable"] = (
            retrained_reliable(retrained, original, verdicts.retrain_max_drop)
            if same_family
            else None
        )
        if (method, scenario) in f_by_key.index:
            quality = f_by_key.loc[(method, scenario)]
            row["forgetting_quality"] = float(quality["forgetting_quality"])
            row["retrained_forgetting_quality"] = float(quality["retrained_forgetting_quality"])
        else:
            row["forgetting_quality"] = row["retrained_forgetting_quality"] = math.nan
        row["relative_forgetting_quality"] = relative_quality(
            row["forgetting_quality"], row["retrained_forgetting_quality"]
        )
        row["final_score"] = final_score(
            row["forgetting_quality"],
            row["acc_retain_train"],
            float(retrained["acc_retain_train"].mean()),
            row["acc_test"],
            float(retrained["acc_test"].mean()),
        )
        rows.append(row)
    return pd.DataFrame(rows).astype({"retrained_reliable": "boolean"})


def with_intervals(summary: pd.DataFrame, metrics: Sequence[str], digits: int = 2) -> pd.DataFrame:
    """The summary for people: each metric as ``mean ± half-width of its 95% CI``."""
    shown = summary[KEYS + ["runs"]].copy()
    for metric in metrics:
        mean = summary[metric]
        half = (summary[f"{metric}_ci_high"] - summary[f"{metric}_ci_low"]) / 2
        shown[metric] = [_plus_minus(m, h, digits) for m, h in zip(mean, half, strict=True)]
    for column in (
        "forgetting_quality",
        "retrained_forgetting_quality",
        "relative_forgetting_quality",
        "final_score",
    ):
        shown[column] = summary[column].round(3)
    shown["forgot"] = summary["forgot"].map({True: "yes", False: "**no**"})
    shown["retrained_reliable"] = summary["retrained_reliable"].map(
        {True: "yes", False: "**no**"}, na_action="ignore"
    )
    return shown


def _plus_minus(mean: float, half: float, digits: int) -> str:
    if pd.isna(mean):
        return ""
    return f"{mean:.{digits}f}" if pd.isna(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"
