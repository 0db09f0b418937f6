"""A method's runs on one forget scenario judged against the retrained distribution.

Each metric of the M method runs becomes a mean with its 95% CI, the z of that mean among the
R retrained models and whether it lies inside their central 95% range. The NeurIPS 2023
challenge's final score multiplies the forgetting quality F by the retain and test accuracy
relative to retraining's. F compares equally many models per side, so the M runs are paired
with M of the R retrained models, drawn without replacement with a seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hyperforget.evaluation.intervals import inside_central_range, mean_ci, z_score


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
        row[f"{metric}_z"] = z_score(ci.mean, reference)
        row[f"{metric}_in_retrained_95"] = inside_central_range(ci.mean, reference)
    return row


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
