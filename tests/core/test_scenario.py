import pytest
import torch

from hyperforget.core.scenario import (
    ForgetScenario,
    class_mask,
    class_set,
    random_sample_scenarios,
    scenarios_from,
)


def test_a_class_scenario_is_named_by_its_classes_and_saved_as_before():
    assert ForgetScenario.of_classes([3]).to_dict() == {"name": "3", "classes": [3]}
    pair = ForgetScenario.of_classes((1, 7))
    assert pair.name == "1+7" and pair.kind == "class"
    assert scenarios_from([pair.to_dict()]) == [pair]


def test_a_sample_scenario_round_trips_through_its_json():
    scenario = ForgetScenario.of_samples("random10", [4, 0, 2])
    saved = scenario.to_dict()
    assert saved["kind"] == "sample" and saved["sample_ids"] == [4, 0, 2]
    assert ForgetScenario.from_dict(saved) == scenario


def test_forget_masks_follow_the_kind():
    labels = torch.tensor([0, 1, 2, 1, 0])
    assert ForgetScenario.of_classes([1]).forget_mask(labels, "test").tolist() == [
        False,
        True,
        False,
        True,
        False,
    ]
    samples = ForgetScenario.of_samples("two", [0, 4])
    assert samples.forget_mask(labels, "train").tolist() == [True, False, False, False, True]
    assert not samples.forget_mask(labels, "test").any()  # no test sample was trained on
    assert class_mask(labels, (0, 2)).sum() == 3


def test_only_a_single_class_has_an_oracle():
    assert ForgetScenario.of_classes([5]).single_class == 5
    with pytest.raises(ValueError, match="only single-class scenarios"):
        _ = ForgetScenario.of_classes([1, 7]).single_class


@pytest.mark.parametrize(
    "make",
    [
        lambda: ForgetScenario("x"),
        lambda: ForgetScenario("x", (1,), sample_ids=(2,)),
        lambda: ForgetScenario("x", kind="sample"),
        lambda: ForgetScenario("x", (1,), kind="rows"),
    ],
)
def test_an_empty_or_unknown_scenario_is_refused(make):
    with pytest.raises(ValueError, match="Forget scenario x"):
        make()


def test_classes_outside_the_dataset_are_refused_naming_them():
    with pytest.raises(ValueError, match=r"\[9\], not classes of the prepared dataset"):
        ForgetScenario.of_classes([9]).check(num_classes=4)
    with pytest.raises(ValueError, match="Unknown split"):
        ForgetScenario.of_classes([1]).forget_mask(torch.tensor([1]), "holdout")


def test_a_class_set_is_read_as_parameters_write_it():
    assert class_set("1+7", "x") == (1, 7)
    assert class_set([3, 8], "x") == (3, 8)
    assert class_set(" 4 + 9 ", "x") == (4, 9)
    for bad in ("3", "1+1", "a+b", [2], "-1+2"):
        with pytest.raises(ValueError, match=r"x has .*two or more distinct class ids"):
            class_set(bad, "x")


def test_a_class_set_is_checked_against_the_dataset():
    fix = r'\(--params "unlearning.forget_class_sets=\[0\+1\]"\) or \[\] for none'
    with pytest.raises(ValueError, match=r"forget_class_sets contains \[7\].*" + fix):
        ForgetScenario.of_classes((1, 7)).check(4)
    with pytest.raises(ValueError, match=r"every class of the prepared dataset"):
        ForgetScenario.of_classes((0, 1)).check(2)
    ForgetScenario.of_classes((1, 3)).check(4)


def test_random_shares_of_the_training_split_are_seeded_nested_and_named_by_percent():
    small, large = random_sample_scenarios(200, [0.01, 0.1], seed=3)
    assert (small.name, large.name) == ("random1", "random10")
    assert small.kind == large.kind == "sample"
    assert len(small.sample_ids) == 2 and len(large.sample_ids) == 20
    assert set(small.sample_ids) < set(large.sample_ids)  # one permutation's prefixes
    assert list(large.sample_ids) == sorted(set(large.sample_ids))
    assert random_sample_scenarios(200, [0.1], seed=3) == [large]
    assert random_sample_scenarios(200, [0.1], seed=4) != [large]
    assert random_sample_scenarios(200, [0.005], seed=3)[0].name == "random0.5"


@pytest.mark.parametrize("fraction", [0.001, 0.999])
def test_a_share_that_forgets_nothing_or_everything_is_refused(fraction):
    with pytest.raises(ValueError, match=rf"sample_fractions has {fraction}: .* of the 200 "):
        random_sample_scenarios(200, [fraction], seed=0)
