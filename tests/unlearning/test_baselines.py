"""The classic baselines on a tiny problem, with the defaults documented in conf/base."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from hyperforget.flat_params import load_flat_into
from hyperforget.unlearning import run_method
from hyperforget.unlearning.common import forget_retain
from tests.unlearning.conftest import DEFAULTS, forget_set_stats

BASELINES = ["ft", "ga", "rl", "ssd", "scrub", "bad_teacher"]


def config(name: str) -> dict:
    return DEFAULTS["unlearning"]["methods"][name]


def test_the_original_knows_the_forget_class(forget_request):
    accuracy, _ = forget_set_stats(forget_request, forget_request.original)
    assert accuracy > 0.9


@pytest.mark.parametrize("name", BASELINES)
def test_each_baseline_lowers_forget_set_accuracy(forget_request, name):
    before, _ = forget_set_stats(forget_request, forget_request.original)
    after, _ = forget_set_stats(
        forget_request, run_method(name, forget_request, config(name)).params
    )
    assert after < before - 0.25


@pytest.mark.parametrize("name", BASELINES)
def test_each_baseline_is_reproducible_from_its_seed(forget_request, name):
    first = run_method(name, forget_request, config(name))
    second = run_method(name, forget_request, config(name))
    assert torch.equal(first.params, second.params)
    assert first.seconds > 0


def test_gradient_ascent_raises_the_forget_loss(forget_request):
    _, before = forget_set_stats(forget_request, forget_request.original)
    _, after = forget_set_stats(
        forget_request, run_method("ga", forget_request, config("ga")).params
    )
    assert after > before


def test_ssd_dampens_only_the_selected_parameters(forget_request):
    from hyperforget.unlearning.ssd import importances

    result = run_method("ssd", forget_request, config("ssd"))
    net = load_flat_into(forget_request.build(), forget_request.original)
    (forget_images, forget_labels), _ = forget_retain(forget_request)
    batch_size = config("ssd")["batch_size"]
    global_importance = torch.cat(
        [i.flatten() for i in importances(net, *forget_request.train, batch_size)]
    )
    forget_importance = torch.cat(
        [i.flatten() for i in importances(net, forget_images, forget_labels, batch_size)]
    )
    selected = forget_importance > config("ssd")["alpha"] * global_importance
    assert 0 < selected.sum() < len(selected)
    assert result.info["dampened_params"] == selected.sum()
    assert torch.equal(result.params[~selected], forget_request.original[~selected])
    beta = (config("ssd")["lambda"] * global_importance / forget_importance).clamp(max=1)
    torch.testing.assert_close(
        result.params[selected], forget_request.original[selected] * beta[selected]
    )


def test_an_empty_forget_set_is_refused(forget_request):
    images, labels = forget_request.train
    without_fives = images[labels != 5], labels[labels != 5]
    empty = replace(forget_request, forget_classes=(5,), train=without_fives)
    with pytest.raises(ValueError, match="forget set is empty"):
        run_method("ft", empty, config("ft"))
