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


def test_avg_gap_is_the_mean_absolute_gap_to_the_retrained_means():
    runs = pd.DataFrame(
        {
            "method": ["oracle", "oracle", "ft"],
            "forget_classes": ["0", "0", "0"],
            "acc_forget_test": [0.0, 0.0, 4.0],
            "acc_retain_test": [90.0, 92.0, 88.0],
            "acc_test": [80.0, 80.0, 80.0],
            "mia_efficacy": [100.0, 100.0, np.nan],  # a missing metric is left out of the mean
        }
    )
    gaps = distribution.add_avg_gap(runs, lambda method: "oracle")["avg_gap"]
    assert gaps.tolist() == pytest.approx([1 / 4, 1 / 4, (4 + 3 + 0) / 3])


def test_forgetting_qualities_of_a_copy_and_of_retraining_itself():
    import torch

    generator = torch.Generator().manual_seed(0)
    retrained = torch.randn(12, 64, generator=generator)
    copies = torch.full((4, 64), 3.0)  # one model four times: nothing like retraining
    never, itself = distribution.forgetting_qualities(copies, retrained, seed=0)
    assert never == 0.0
    assert itself > 0.1  # retraining against other retrained models, at 4 models per side
    like, _ = distribution.forgetting_qualities(
        torch.randn(4, 64, generator=generator), retrained, 0
    )
    assert like > 0.1
    _, unresolved = distribution.forgetting_qualities(copies, retrained[:7], seed=0)
    assert np.isnan(unresolved)  # 7 < 2 x 4: no disjoint retrained set to score itself


def test_summary_table_judges_each_method_against_its_own_retrained_models():
    runs = pd.DataFrame(
        {
            "method": ["oracle"] * 3 + ["ft"] * 2 + ["spm_oracle"] * 2 + ["spm"] * 2,
            "forget_classes": ["0"] * 9,
            "acc_retain_train": [99.0, 99.0, 99.0, 99.0, 99.0, 50.0, 50.0, 50.0, 50.0],
            "acc_test": [80.0, 80.0, 80.0, 40.0, 40.0, 70.0, 70.0, 70.0, 70.0],
            "acc_forget_train": [0.0] * 3 + [50.0] * 2 + [0.0] * 4,
            "acc_forget_test": [0.0] * 9,
            "acc_retain_test": [90.0] * 9,
        }
    )
    forgetting = pd.DataFrame(
        {
            "method": ["ft", "spm"],
            "forget_classes": ["0", "0"],
            "forgetting_quality": [0.5, 0.25],
            "retrained_forgetting_quality": [0.3, float("nan")],
        }
    )
    retrained_of = {"spm": "spm_oracle", "spm_oracle": "spm_oracle"}.get
    table = distribution.summary_table(
        runs,
        forgetting,
        ["acc_retain_train", "acc_test"],
        lambda m: retrained_of(m, "oracle"),
        distribution.Verdicts(forgot_tolerance=2.0, retrain_max_drop=5.0),
    )
    rows = table.set_index("method")
    assert rows.loc["ft", "final_score"] == pytest.approx(0.5 * 1.0 * 0.5)
    assert rows.loc["spm", "final_score"] == pytest.approx(0.25)
    assert rows.loc["ft", "relative_forgetting_quality"] == pytest.approx(0.5 / 0.3)
    assert np.isnan(rows.loc["spm", "relative_forgetting_quality"])  # no F of its retraining
    assert not rows.loc["ft", "forgot"] and rows.loc["spm", "forgot"]  # ft kept forget-train
    assert rows.loc["ft", "runs_forgot"] == 0
    assert pd.isna(rows.loc["spm", "retrained_reliable"])  # no original SPM row to compare with
    assert rows.loc["spm", "retrained_runs"] == 2 and rows.loc["ft", "retrained_runs"] == 3
    assert np.isnan(rows.loc["oracle", "forgetting_quality"])  # not in the F table
    shown = distribution.with_intervals(table, ["acc_test"])
    assert shown.set_index("method").loc["ft", "acc_test"] == "40.00 ± 0.00"


@pytest.mark.parametrize("runs", [3, 5, 16])
def test_identical_distributions_give_relative_f_near_one(runs):
    """Method runs drawn like the retrained models: raw F sits at the estimator's floor for this
    many runs, F relative to retraining's own F is near 1 on every seed."""
    import torch

    for seed in range(5):
        generator = torch.Generator().manual_seed(seed)
        retrained = torch.randn(2 * runs, 256, generator=generator)
        like_retraining = torch.randn(runs, 256, generator=generator)
        quality, itself = distribution.forgetting_qualities(like_retraining, retrained, seed)
        assert quality < 0.5  # the floor: well under 1 even for one distribution
        assert distribution.relative_quality(quality, itself) == pytest.approx(1.0, abs=0.15)
        never = torch.full((runs, 256), 6.0) + torch.randn(1, 256, generator=generator)
        never_quality, _ = distribution.forgetting_qualities(never, retrained, seed)
        assert distribution.relative_quality(never_quality, itself) == 0.0


def test_relative_quality_is_undefined_without_retraining_s_own_f():
    assert np.isnan(distribution.relative_quality(0.2, float("nan")))
    assert np.isnan(distribution.relative_quality(0.2, 0.0))
    assert distribution.relative_quality(0.1, 0.25) == pytest.approx(0.4)


def test_a_method_that_kept_the_class_is_marked_not_forgotten():
    retrained = pd.DataFrame({"acc_forget_train": [0.0] * 8, "acc_forget_test": [0.0] * 7 + [1.0]})
    forgetting = pd.DataFrame(
        {"acc_forget_train": [0.0, 0.5, 1.0], "acc_forget_test": [0.0, 2.0, 2.5]}
    )
    # the retrained 97.5% quantile of forget-test is 0.825: the bar is 2.825
    assert distribution.forgot(forgetting, retrained, 2.0) == {"forgot": True, "runs_forgot": 3}
    kept_one = forgetting.assign(acc_forget_test=[0.0, 0.0, 60.0])
    assert distribution.forgot(kept_one, retrained, 2.0) == {"forgot": False, "runs_forgot": 2}
    # forget-train alone (a method may only see that): one run kept the training samples
    kept_train = forgetting.assign(acc_forget_train=[0.0, 5.0, 0.0])
    assert distribution.forgot(kept_train, retrained, 2.0) == {"forgot": True, "runs_forgot": 2}
    # a sample-wise scenario: no forgotten test class; forget-train accuracy and MIA efficacy
    # inside retraining's range, give or take the tolerance, on both sides
    retrained_sw = pd.DataFrame(
        {
            "acc_forget_train": [90.0, 91.0, 92.0],
            "acc_forget_test": [np.nan] * 3,
            "mia_efficacy": [10.0, 11.0, 12.0],
        }
    )
    like = pd.DataFrame(
        {"acc_forget_train": [91.0, 92.0], "acc_forget_test": [np.nan] * 2, "mia_efficacy": 11.0}
    )
    assert distribution.forgot(like, retrained_sw, 2.0) == {"forgot": True, "runs_forgot": 2}
    remembered = like.assign(acc_forget_train=[99.0, 98.8])  # an SPM whose encoder saw them
    assert not distribution.forgot(remembered, retrained_sw, 2.0)["forgot"]
    too_forgotten = like.assign(acc_forget_train=[70.0, 71.0])
    assert not distribution.forgot(too_forgotten, retrained_sw, 2.0)["forgot"]
    unlike_mia = like.assign(mia_efficacy=[3.4, 3.4])
    assert distribution.forgot(unlike_mia, retrained_sw, 2.0) == {"forgot": False, "runs_forgot": 0}


def test_retraining_far_under_the_original_is_unreliable():
    original = pd.DataFrame({"acc_retain_test": [78.6]})
    assert not distribution.retrained_reliable(
        pd.DataFrame({"acc_retain_test": [39.0, 40.0]}), original, 5.0
    )
    assert distribution.retrained_reliable(
        pd.DataFrame({"acc_retain_test": [75.0, 76.0]}), original, 5.0
    )
    assert (
        distribution.retrained_reliable(pd.DataFrame({"acc_retain_test": [1.0]}), original[:0], 5.0)
        is None
    )
