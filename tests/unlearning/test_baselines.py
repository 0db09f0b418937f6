"""The classic baselines on a tiny problem, with the defaults documented in conf/base."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from hyperforget.core.flat_params import load_flat_into
from hyperforget.core.scenario import ForgetScenario
from hyperforget.unlearning import common
from hyperforget.unlearning.common import forget_retain
from hyperforget.unlearning.registry import run_method
from tests.recipes import unchecked
from tests.unlearning.conftest import forget_set_stats, method_params

BASELINES = ["ft", "ga", "rl", "ssd", "scrub", "bad_teacher"]


def config(name: str, **overrides):
    return method_params(name, **overrides)


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

    one_pass = config("ssd", max_passes=1)  # the paper's SSD
    result = run_method("ssd", forget_request, one_pass)
    net = load_flat_into(forget_request.build(), forget_request.original)
    (forget_images, forget_labels), _ = forget_retain(forget_request)
    batch_size = config("ssd").batch_size
    global_importance = torch.cat(
        [i.flatten() for i in importances(net, *forget_request.train, batch_size)]
    )
    forget_importance = torch.cat(
        [i.flatten() for i in importances(net, forget_images, forget_labels, batch_size)]
    )
    selected = forget_importance > config("ssd").alpha * global_importance
    assert 0 < selected.sum() < len(selected)
    assert result.info["dampened_params"] == selected.sum()
    assert torch.equal(result.params[~selected], forget_request.original[~selected])
    beta = (config("ssd").dampening * global_importance / forget_importance).clamp(max=1)
    torch.testing.assert_close(
        result.params[selected], forget_request.original[selected] * beta[selected]
    )


def test_ssd_takes_more_passes_with_a_lower_alpha_until_it_forgets(forget_request):
    forget_set, _ = forget_retain(forget_request)
    # alpha so high that the first pass dampens nothing: later passes lower it
    strict = config("ssd", alpha=1.0e6, alpha_decay=0.01, min_alpha=1.0)
    result = run_method("ssd", forget_request, strict)
    assert 1 < result.info["passes"] <= strict.max_passes
    forgot = load_flat_into(forget_request.build(), result.params).eval()
    assert common.accuracy(forgot, *forget_set) <= strict.stop_accuracy
    capped = run_method("ssd", forget_request, replace(strict, max_passes=2))
    assert capped.info["passes"] == 2


def test_ssd_refuses_an_alpha_decay_above_one(forget_request):
    with pytest.raises(ValueError, match="alpha_decay must be <= 1"):
        config("ssd", alpha_decay=2.0)


def test_an_empty_forget_set_is_refused(forget_request):
    images, labels = forget_request.train
    without_fives = images[labels != 5], labels[labels != 5]
    empty = replace(forget_request, scenario=ForgetScenario.of_classes((5,)), train=without_fives)
    with pytest.raises(ValueError, match="forget set is empty"):
        run_method("ft", empty, config("ft"))


def test_bad_teachers_noise_never_points_at_the_forgotten_class(forget_request):
    """A random network predicts nearly one class everywhere; with the forgotten classes masked
    out of it the student cannot learn to keep predicting them, whatever the seed."""
    for seed in range(4):
        request = replace(forget_request, seed=seed)
        masked = run_method("bad_teacher", request, config("bad_teacher")).params
        accuracy, _ = forget_set_stats(request, masked)
        assert accuracy <= 0.02, seed


def test_scrubs_max_pass_takes_forget_steps_steps_whatever_the_forget_set(
    forget_request, monkeypatch
):
    """The number of max-steps is fixed by forget_steps: a 4x larger forget set makes 4x larger
    batches, not 4x more ascent steps (the max-step's damage grows with its step count)."""
    (images, labels), (retain_images, retain_labels) = forget_retain(forget_request)
    passes = []
    real = common.minibatches

    def counting(num_samples, batch_size, epochs, generator):
        batches = list(real(num_samples, batch_size, epochs, generator))
        if num_samples in (len(labels), 4 * len(labels)):  # a pass over the forget set
            passes.append(len(batches))
        return iter(batches)

    monkeypatch.setattr(common, "minibatches", counting)
    repeat = (4,) + (1,) * (images.dim() - 1)
    bigger = replace(
        forget_request,
        train=(
            torch.cat([retain_images, images.repeat(repeat)]),
            torch.cat([retain_labels, labels.repeat(4)]),
        ),
    )
    cfg = config("scrub", epochs=1, max_epochs=1)
    run_method("scrub", forget_request, cfg)
    run_method("scrub", bigger, cfg)
    assert passes == [cfg.forget_steps, cfg.forget_steps]


def samples_per_epoch(name: str, request) -> int:
    """What an epoch of ``name`` walks: FT the retain set, RL the whole training split (the
    forget set relabelled), bad teacher the forget set plus retain_fraction of the retain set."""
    (forget_images, _), (_, retain_labels) = forget_retain(request)
    if name == "ft":
        return len(retain_labels)
    if name == "rl":
        return len(retain_labels) + len(forget_images)
    return len(forget_images) + round(config(name).retain_fraction * len(retain_labels))


@pytest.mark.parametrize("name", ["ft", "rl", "bad_teacher"])
def test_more_epochs_are_taken_only_while_the_class_is_still_recognised(forget_request, name):
    per_epoch = -(-samples_per_epoch(name, forget_request) // config(name).batch_size)
    cfg = config(name, epochs=1, max_steps=3 * per_epoch + 1)  # room for 3 epochs, not 4
    unreachable = run_method(name, forget_request, unchecked(cfg, stop_accuracy=-1.0))
    assert unreachable.info["epochs"] == 3 and unreachable.info["steps"] == 3 * per_epoch
    reached = run_method(name, forget_request, replace(cfg, stop_accuracy=100.0))
    assert reached.info["epochs"] == 1
    # epochs taken one at a time draw the same batches as one call for all of them
    fixed = run_method(name, forget_request, replace(cfg, epochs=3, stop_accuracy=None))
    assert torch.equal(fixed.params, unreachable.params)


def test_the_stop_also_asks_the_forget_classs_val_samples(forget_request, monkeypatch):
    seen = []
    real = common.forgotten

    def spy(module, *splits, stop_accuracy):
        seen.append(len(splits))
        return real(module, *splits, stop_accuracy=stop_accuracy)

    monkeypatch.setattr(common, "forgotten", spy)
    for name in ("ft", "rl", "bad_teacher"):
        run_method(name, forget_request, config(name, epochs=1, stop_accuracy=100.0))
    assert seen == [2, 2, 2]  # forget-train and forget-val, once each: forgotten at once


def test_scrub_takes_max_passes_after_max_epochs_only_while_not_forgotten(
    forget_request, monkeypatch
):
    (images, labels), _ = forget_retain(forget_request)
    passes = []
    real = common.minibatches

    def counting(num_samples, batch_size, epochs, generator):
        if num_samples == len(labels):  # a max pass over the forget set
            passes.append(1)
        return real(num_samples, batch_size, epochs, generator)

    monkeypatch.setattr(common, "minibatches", counting)
    cfg = config("scrub", epochs=3, max_epochs=0)
    run_method("scrub", forget_request, replace(cfg, stop_accuracy=None))
    assert passes == []
    run_method("scrub", forget_request, unchecked(cfg, stop_accuracy=-1.0))  # never reached
    assert passes == [1, 1, 1]


@pytest.fixture(scope="module")
def sample_request(forget_request):
    """The same network asked to forget a random tenth of its training samples."""
    ids = torch.randperm(4000, generator=torch.Generator().manual_seed(5))[:400].sort().values
    return replace(forget_request, scenario=ForgetScenario.of_samples("random10", ids.tolist()))


def _accuracies(request, params) -> tuple[float, float]:
    """Forget-train and val accuracy of ``params``."""
    module = common.frozen(common.network(request, params))
    (images, labels), _ = forget_retain(request)
    return common.accuracy(module, images, labels), common.accuracy(module, *request.val)


@pytest.mark.parametrize("name", ["ft", "rl", "bad_teacher"])
def test_a_sample_wise_request_takes_the_base_budget_and_no_more(sample_request, name):
    """Networks retrained without random samples still recognise most of them: the rule that
    takes epochs until a forgotten class is no longer recognised asks for nothing more here."""
    per_epoch = -(-samples_per_epoch(name, sample_request) // config(name).batch_size)
    cfg = unchecked(config(name, epochs=2, max_steps=4 * per_epoch), stop_accuracy=-1.0)
    assert run_method(name, sample_request, cfg).info["epochs"] == 2
    class_request = replace(sample_request, scenario=ForgetScenario.of_classes((0,)))
    assert run_method(name, class_request, cfg).info["epochs"] > 2  # never forgotten: more


def test_gradient_ascent_on_samples_stops_where_they_look_unseen(sample_request):
    """Ascent stops once the forget samples are recognised no better than the original
    recognises the val split, long before its epochs run out (or the network collapses)."""
    forget_before, unseen = _accuracies(sample_request, sample_request.original)
    assert forget_before > unseen  # the original fits its training samples better
    done = run_method("ga", sample_request, config("ga", epochs=5))
    forget_after, _ = _accuracies(sample_request, done.params)
    assert unseen - 10 < forget_after <= unseen
    assert done.info["ascent_steps"] < 5 * -(-400 // config("ga").batch_size)
    assert common.stop_bar(sample_request, 0.0, asks_for_more=False) == pytest.approx(unseen)
    assert common.stop_bar(sample_request, 0.0, asks_for_more=True) is None
    assert common.stop_bar(sample_request, None, asks_for_more=False) is None
