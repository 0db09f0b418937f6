"""LTU's pieces: gradient harmonisation and the retain subset, and the method on a small problem."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from hyperforget.unlearning import common
from hyperforget.unlearning.ltu import forget_loss, harmonise, retain_subset
from hyperforget.unlearning.registry import method_config, run_method
from tests.recipes import unchecked
from tests.unlearning.conftest import DEFAULTS, forget_set_stats, method_params


def test_conflicting_gradients_are_projected_onto_each_others_normal_plane():
    generator = torch.Generator().manual_seed(0)
    for _ in range(100):
        remember, forget = torch.randn(2, 50, generator=generator)
        if remember @ forget >= 0:
            forget = forget - 2 * (remember @ forget) / (remember @ remember) * remember
        assert remember @ forget < 0
        new_remember, new_forget, conflicted = harmonise(remember, forget)
        assert conflicted
        tolerance = 1e-4 * remember.norm() * forget.norm()
        for new in (new_remember, new_forget):
            assert new @ remember >= -tolerance and new @ forget >= -tolerance
        assert (new_remember + new_forget) @ remember >= -tolerance
        assert (new_remember + new_forget) @ forget >= -tolerance


def test_gradients_that_agree_are_unchanged():
    remember, forget = torch.tensor([1.0, 2.0, 0.0]), torch.tensor([0.5, -0.1, 3.0])
    new_remember, new_forget, conflicted = harmonise(remember, forget)
    assert not conflicted
    assert torch.equal(new_remember, remember) and torch.equal(new_forget, forget)


@pytest.mark.parametrize(("num_retain", "fraction"), [(3150, 0.1), (101, 0.1), (7, 0.5), (10, 1.0)])
def test_the_retain_subset_never_exceeds_its_fraction(num_retain, fraction):
    subset = retain_subset(num_retain, fraction, torch.Generator().manual_seed(0))
    assert 1 <= len(subset) <= fraction * num_retain
    assert len(subset.unique()) == len(subset) and subset.max() < num_retain


def test_a_bad_fraction_is_refused():
    with pytest.raises(ValueError, match="retain_fraction must be in"):
        retain_subset(100, 0.0, torch.Generator())


def test_forget_loss_targets_the_original_without_the_forgotten_class():
    original = torch.tensor([[5.0, 2.0, 0.0]])  # class 0 first, class 1 the runner-up
    runner_up = torch.tensor([[-30.0, 2.0, 0.0]])  # the original with class 0 removed
    remaining = torch.tensor([2.0, 0.0])
    entropy = -(remaining.softmax(0) * remaining.log_softmax(0)).sum()
    assert forget_loss(runner_up, original, (0,), 0.0).item() == pytest.approx(
        entropy.item(),
        rel=1e-5,
    )
    assert (
        forget_loss(original, original, (0,), 0.0) > forget_loss(runner_up, original, (0,), 0.0) + 2
    )


@pytest.mark.parametrize("name", ["ltu", "ltu_no_harmonisation"])
def test_ltu_forgets_reads_its_subset_only_and_is_reproducible(forget_request, name):
    config = method_params(name)
    first = run_method(name, forget_request, config)
    second = run_method(name, forget_request, config)
    assert torch.equal(first.params, second.params)
    before, _ = forget_set_stats(forget_request, forget_request.original)
    after, _ = forget_set_stats(forget_request, first.params)
    assert after < before - 0.5
    assert first.info["retain_fraction_used"] <= config.retain_fraction
    assert 0 <= first.info["conflict_fraction"] <= 1
    assert config.harmonise is (name == "ltu")


def test_the_ablation_takes_ltus_parameters_and_overrides_of_them():
    ltu = DEFAULTS["unlearning"]["methods"]["ltu"]
    methods = {"ltu": {**ltu, "lr": 0.5}, "ltu_no_harmonisation": {"harmonise": False}}
    ablation = method_config("ltu_no_harmonisation", methods)
    assert ablation.lr == 0.5 and ablation.harmonise is False
    assert replace(ablation, harmonise=True) == method_config("ltu", methods)


def test_ltu_steps_on_while_the_forget_set_is_still_recognised(forget_request):
    """``steps`` is a minimum: with a stop_accuracy no run can reach within max_steps it takes
    every one of them; with one it has reached it stops at the first check after ``steps``."""
    config = method_params("ltu", steps=10, check_every=5, max_steps=40)
    unreachable = run_method("ltu", forget_request, unchecked(config, stop_accuracy=-1.0))
    assert unreachable.info["steps"] == 40
    reached = run_method("ltu", forget_request, replace(config, stop_accuracy=100.0))
    assert reached.info["steps"] == 10
    fixed = run_method("ltu", forget_request, replace(config, stop_accuracy=None))
    assert fixed.info["steps"] == 10


def test_ltu_steps_on_while_the_forgotten_class_is_recognised_on_val(forget_request, monkeypatch):
    """The stopping rule also checks the forgotten classes' val samples, which LTU never trains
    on: a forget-val split still recognised (here: class-1 digits) keeps it going to max_steps."""
    config = method_params("ltu", steps=10, check_every=5, max_steps=40, stop_accuracy=50.0)
    assert run_method("ltu", forget_request, config).info["steps"] == 10
    images, labels = forget_request.val
    recognised = images[labels == 1], labels[labels == 1]
    monkeypatch.setattr(common, "forget_val", lambda request: recognised)
    assert run_method("ltu", forget_request, config).info["steps"] == 40


def test_forgotten_checks_every_split_it_is_given_and_skips_empty_ones(forget_request):
    module = common.network(forget_request)
    (images, labels), _ = common.forget_retain(forget_request)
    empty = images[:0], labels[:0]
    assert common.forgotten(module, (images, labels), empty, stop_accuracy=100.0)
    assert not common.forgotten(module, empty, (images, labels), stop_accuracy=1.0)
    assert common.forgotten(module, (images, labels), stop_accuracy=None)


def test_a_step_budget_below_its_minimum_is_refused():
    with pytest.raises(ValueError, match="max_steps .5. must be at least .*steps .10."):
        method_params("ltu", steps=10, max_steps=5)
