import numpy as np
import pandas as pd
import pytest

from hyperforget.evaluation import distribution


def test_summary_of_runs_against_the_retrained_distribution():
    runs = pd.DataFrame({"acc_retain_test": [88.0, 89.0, 90.0]})
    retrained = pd.DataFrame({"acc_retain_test": np.linspace(89.0, 93.0, 41)})
    row = distribution.summarise_runs(runs, retrained, ["acc_retain_test"])
    assert row["runs"] == 3 and row["retrained_runs"] == 41
    assert row["acc_retain_test"] == 89.0
    assert row["acc_retain_test_ci_low"] < 89.0 < row["acc_retain_test_ci_high"]
    sd = np.linspace(89.0, 93.0, 41).std(ddof=1)
    assert row["acc_retain_test_z"] == pytest.approx((89.0 - 91.0) / sd)
    assert not row["acc_retain_test_in_retrained_95"]  # 2.5% quantile is 89.1


def test_pairing_is_seeded_and_needs_enough_retrained_models():
    first = distribution.paired_retrained(32, 5, seed=0)
    assert len(set(first.tolist())) == 5 and first.max() < 32
    assert np.array_equal(first, distribution.paired_retrained(32, 5, seed=0))
    with pytest.raises(ValueError, match="raise evaluation.oracle_runs to at least 6"):
        distribution.paired_retrained(5, 6, seed=0)


def test_final_score_scales_f_by_relative_accuracies():
    assert distribution.final_score(0.5, 90.0, 90.0, 80.0, 80.0) == 0.5
    assert distribution.final_score(0.5, 45.0, 90.0, 80.0, 80.0) == 0.25
