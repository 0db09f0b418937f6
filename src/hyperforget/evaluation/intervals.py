"""Means with confidence intervals, and where a method's mean sits in the retrained distribution.

A method run or a retrained model is one draw; verdicts compare distributions of draws. The
interval of a mean is Student's t over the runs (exact for normal draws, close for the few
runs a CPU affords); the retrained distribution is described by its own draws, never a model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95


@dataclass(frozen=True)
class MeanCI:
    mean: float
    low: float
    high: float
    runs: int


def mean_ci(values: np.ndarray | list[float], level: float = LEVEL) -> MeanCI:
    """The mean of ``values`` and its Student-t confidence interval (nan bounds for one run)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return MeanCI(math.nan, math.nan, math.nan, 0)
    mean = float(values.mean())
    if len(values) == 1:
        return MeanCI(mean, math.nan, math.nan, 1)
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) / len(values) ** 0.5
    return MeanCI(mean, mean - float(half), mean + float(half), len(values))


def z_score(mean: float, retrained: np.ndarray | list[float]) -> float:
    """How many retrained standard deviations ``mean`` lies from the retrained mean."""
    retrained = np.asarray(retrained, dtype=np.float64)
    sd = retrained.std(ddof=1) if len(retrained) > 1 else math.nan
    if not sd > 0:
        return 0.0 if mean == retrained.mean() else math.copysign(math.inf, mean - retrained.mean())
    return float((mean - retrained.mean()) / sd)


def central_range(retrained: np.ndarray | list[float], level: float = LEVEL) -> tuple[float, float]:
    """The retrained distribution's central ``level`` range (empirical quantiles)."""
    tail = (1 - level) / 2
    low, high = np.quantile(np.asarray(retrained, dtype=np.float64), [tail, 1 - tail])
    return float(low), float(high)


def inside_central_range(
    mean: float, retrained: np.ndarray | list[float], level: float = LEVEL
) -> bool:
    """Whether ``mean`` lies inside the retrained central ``level`` range."""
    low, high = central_range(retrained, level)
    return low <= mean <= high
