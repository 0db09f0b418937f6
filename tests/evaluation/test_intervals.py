import math

import numpy as np
import pytest

from hyperforget.evaluation import intervals


def test_interval_covers_a_known_mean_at_about_the_nominal_rate():
    rng = np.random.default_rng(0)
    trials, covered = 4000, 0
    for _ in range(trials):
        ci = intervals.mean_ci(rng.normal(90.0, 1.5, size=5))
        covered += ci.low <= 90.0 <= ci.high
    assert covered / trials == pytest.approx(0.95, abs=0.015)


def test_interval_of_a_hand_computed_case():
    ci = intervals.mean_ci([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, 2) * sd / sqrt(n)
    assert (ci.mean, ci.low, ci.high, ci.runs) == pytest.approx((2.0, 2 - half, 2 + half, 3))


def test_one_run_has_no_interval_and_nan_runs_are_dropped():
    ci = intervals.mean_ci([4.0, float("nan")])
    assert ci.mean == 4.0 and math.isnan(ci.low) and math.isnan(ci.high) and ci.runs == 1


def test_z_and_central_range():
    retrained = np.arange(101.0)  # sd 29.3, 2.5% and 97.5% quantiles 2.5 and 97.5
    assert intervals.z_score(50.0 + 29.300170647967224, retrained) == pytest.approx(1.0)
    assert intervals.central_range(retrained) == pytest.approx((2.5, 97.5))
    assert intervals.inside_central_range(3.0, retrained)
    assert not intervals.inside_central_range(98.0, retrained)
    assert intervals.z_score(1.0, [1.0, 1.0]) == 0.0
    assert intervals.z_score(2.0, [1.0, 1.0]) == math.inf
