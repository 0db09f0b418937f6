"""HyperForget's unlearning by sampling: target, rounds and selection on the val split."""

from dataclasses import replace

import pytest
import torch

from hyperforget.core.flat_params import ParamLayout
from hyperforget.core.per_class import evaluate_per_class
from hyperforget.core.scenario import ForgetScenario
from hyperforget.hypernet.diffusion import GaussianDiffusion
from hyperforget.hypernet.model import DiHyFo, DiHyFoConfig
from hyperforget.unlearning import dihyfo
from tests.recipes import DENOISER

TINY = {**DENOISER, "width": 16, "depth": 1, "heads": 2, "num_frequencies": 4}
CONFIG = {
    "candidates": 4,
    "sampler": "ddim",
    "sampler_steps": 3,
    "forgotten_level": None,
    "stop_accuracy": None,
    "guidance": 0.0,
}


def sampling(**overrides) -> dihyfo.SamplingConfig:
    return dihyfo.SamplingConfig.from_params({**CONFIG, **overrides}, "unlearning.methods.dihyfo1")


def with_net(request, variant="dihyfo1"):
    layout = ParamLayout.from_module(request.build())
    net = DiHyFo(layout, request.num_classes, DiHyFoConfig(variant=variant, **TINY)).eval()
    resources = {"net": net, "diffusion": GaussianDiffusion(num_steps=50), "levels": {0: 9.0}}
    return replace(request, resources=resources)


def test_untrained_dihyfo1_is_the_identity_so_the_original_comes_back(forget_request):
    result = dihyfo.forget(with_net(forget_request), sampling(rounds=2))
    assert torch.equal(result.params, forget_request.original)
    assert result.info["rounds"] == 2
    assert result.info["target_loss"][0] == 9.0  # the forgotten level replaces class 0's loss


def test_each_round_starts_from_the_closest_candidate_so_far(forget_request, monkeypatch):
    request = with_net(forget_request)
    starts, drawn = [], []

    def fake_sample(net, diffusion, target, generator, current, current_loss, **kwargs):
        starts.append(current[0].clone())
        noise = torch.randn(current.shape, generator=torch.Generator().manual_seed(len(starts)))
        drawn.append(current + 0.05 * noise)
        return drawn[-1]

    monkeypatch.setattr(dihyfo, "sample_params", fake_sample)
    result = dihyfo.forget(request, sampling(rounds=3))
    val = forget_request.val
    target = result.info["target_loss"]

    def distance(params):
        loss = evaluate_per_class(forget_request.build(), params, *val, 10).loss
        return (torch.log1p(loss) - torch.log1p(target)).pow(2).sum(-1)

    assert len(starts) == 3 and torch.equal(starts[0], forget_request.original)
    every = torch.cat(drawn)
    best = every[distance(every).argmin()]
    assert torch.equal(result.params, best)
    first_best = drawn[0][distance(drawn[0]).argmin()]
    assert torch.equal(starts[1], first_best)


def test_dihyfo2_draws_fresh_batches_from_l_star_until_one_forgot(forget_request, monkeypatch):
    starts = []

    def fake_sample(net, diffusion, target, generator, current, current_loss, **kwargs):
        starts.append(current)
        drawn = forget_request.original.expand(len(target), -1).clone()
        if len(starts) >= 3:
            drawn[0, -10] = -1.0e3  # the last layer's bias of class 0: never predicted
        return drawn

    monkeypatch.setattr(dihyfo, "sample_params", fake_sample)
    request = with_net(forget_request, variant="dihyfo2")
    result = dihyfo.forget(request, sampling(rounds=1, max_rounds=6, stop_accuracy=1.0))
    assert starts == [None, None, None] and result.info["rounds"] == 3
    assert result.info["forgot_on_train_and_val"] is True and float(result.params[-10]) == -1.0e3


def test_a_max_rounds_below_rounds_is_refused():
    with pytest.raises(ValueError, match="max_rounds .2. must be at least .*rounds .3."):
        sampling(rounds=3, max_rounds=2)


def _fake_sampler(monkeypatch, forgets_from_round: int, far: bool):
    """Rounds before ``forgets_from_round`` draw copies of the original (close to l* on the
    retained classes, still knowing class 0); later ones draw a network that never predicts
    class 0 (bias -1e3), and with ``far`` also one whose other losses are far from l*."""
    rounds = []

    def fake_sample(net, diffusion, target, generator, current, current_loss, **kwargs):
        rounds.append(len(rounds) + 1)
        drawn = current.clone()
        if rounds[-1] >= forgets_from_round:
            drawn[0, -10] = -1.0e3  # the last layer's bias of class 0 (layout: weight, bias)
            if far:
                drawn[0, :-10] *= 3.0
        return drawn

    monkeypatch.setattr(dihyfo, "sample_params", fake_sample)
    return rounds


def test_rounds_go_on_until_a_candidate_forgot_on_val(forget_request, monkeypatch):
    rounds = _fake_sampler(monkeypatch, forgets_from_round=5, far=False)
    config = sampling(rounds=2, max_rounds=8, stop_accuracy=1.0)
    result = dihyfo.forget(with_net(forget_request), config)
    assert rounds == [1, 2, 3, 4, 5] and result.info["rounds"] == 5
    assert result.info["forgot_on_train_and_val"] is True
    assert float(result.params[-10]) == -1.0e3


def test_a_forgetting_candidate_beats_a_closer_one_that_remembers(forget_request, monkeypatch):
    _fake_sampler(monkeypatch, forgets_from_round=1, far=True)
    request = with_net(forget_request)
    request.resources["levels"] = {0: 0.01}  # l* asks for no forgetting: closeness favours copies
    chosen = dihyfo.forget(request, sampling(rounds=1, stop_accuracy=1.0))
    assert float(chosen.params[-10]) == -1.0e3
    closest = dihyfo.forget(request, sampling(rounds=1, stop_accuracy=None))
    assert float(closest.params[-10]) != -1.0e3


def test_without_a_forgetting_candidate_max_rounds_bounds_the_search(forget_request, monkeypatch):
    rounds = _fake_sampler(monkeypatch, forgets_from_round=99, far=False)
    config = sampling(rounds=2, max_rounds=4, stop_accuracy=1.0)
    result = dihyfo.forget(with_net(forget_request), config)
    assert rounds == [1, 2, 3, 4] and result.info["forgot_on_train_and_val"] is False


def test_a_candidate_that_still_recognises_the_forget_set_ranks_after_one_that_does_not(
    forget_request, monkeypatch
):
    """Selection and stopping read the forgotten class's training samples as well as val: a
    network can miss the class on val and still recognise its training digits."""
    images, labels = forget_request.val
    zeros, ones = (labels == 0).nonzero()[:, 0], (labels == 1).nonzero()[:, 0]
    images = images.clone()
    images[zeros] = images[ones[torch.arange(len(zeros)) % len(ones)]]  # val's 0s are 1s
    request = with_net(replace(forget_request, val=(images, labels)))

    def fake_sample(net, diffusion, target, generator, current, current_loss, **kwargs):
        drawn = current.clone()
        drawn[1, -10] = -1.0e3  # never predicts class 0, and is far from l* elsewhere
        drawn[1, :-10] *= 3.0
        return drawn

    monkeypatch.setattr(dihyfo, "sample_params", fake_sample)
    model = forget_request.build()
    assert evaluate_per_class(model, forget_request.original, images, labels, 10).acc[0] <= 0.01
    train = evaluate_per_class(model, forget_request.original, *forget_request.train, 10)
    assert train.acc[0] > 0.5  # the original forgot class 0 on val only
    result = dihyfo.forget(request, sampling(rounds=1, stop_accuracy=1.0))
    assert float(result.params[-10]) == -1.0e3
    assert result.info["forgot_on_train_and_val"] is True
    closest = dihyfo.forget(request, sampling(rounds=1, stop_accuracy=None))
    assert torch.equal(closest.params, forget_request.original)


def test_each_further_round_asks_with_guidance_step_more_guidance(forget_request, monkeypatch):
    asked = []

    def fake_sample(net, diffusion, target, generator, current, current_loss, **kwargs):
        asked.append(kwargs["guidance"])
        drawn = forget_request.original.expand(len(target), -1).clone()
        if len(asked) >= 3:
            drawn[0, -10] = -1.0e3  # the third round forgets class 0
        return drawn

    monkeypatch.setattr(dihyfo, "sample_params", fake_sample)
    request = with_net(forget_request, variant="dihyfo2")
    config = sampling(rounds=1, max_rounds=6, stop_accuracy=1.0, guidance=0.0, guidance_step=0.5)
    result = dihyfo.forget(request, config)
    assert asked == [0.0, 0.5, 1.0] and result.info["guidance"] == 1.0


def test_each_further_round_asks_for_level_growth_more_loss_on_a_class_still_recognised(
    forget_request, monkeypatch
):
    asked = []

    def fake_sample(net, diffusion, target, generator, current, current_loss, **kwargs):
        asked.append(float(target[0, 0]))
        drawn = current.clone()
        if len(asked) >= 3:
            drawn[0, -10] = -1.0e3  # the third round forgets class 0
        return drawn

    monkeypatch.setattr(dihyfo, "sample_params", fake_sample)
    config = sampling(rounds=1, max_rounds=6, stop_accuracy=1.0, level_growth=2.0)
    result = dihyfo.forget(with_net(forget_request), config)
    assert asked == [9.0, 18.0, 36.0]  # the level, then twice it each round the class stayed
    assert result.info["rounds"] == 3 and result.info["forgot_on_train_and_val"] is True
    assert float(result.info["target_loss"][0]) == 36.0
    assert result.info["target_loss"][1:].equal(
        evaluate_per_class(forget_request.build(), forget_request.original, *forget_request.val, 10)
        .loss[1:]
        .cpu()
    )  # the retained classes' targets never grow


def test_the_level_stays_while_the_first_rounds_are_taken(forget_request, monkeypatch):
    asked = []

    def fake_sample(net, diffusion, target, generator, current, current_loss, **kwargs):
        asked.append(float(target[0, 0]))
        return current.clone()  # never forgets

    monkeypatch.setattr(dihyfo, "sample_params", fake_sample)
    result = dihyfo.forget(
        with_net(forget_request),
        sampling(rounds=2, max_rounds=4, stop_accuracy=1.0, level_growth=2.0),
    )
    assert asked == [9.0, 9.0, 18.0, 36.0]
    assert float(result.info["target_loss"][0]) == 36.0  # the last round's, not a grown one


def test_only_the_forgotten_classes_still_recognised_are_asked_for_more_loss(
    forget_request, monkeypatch
):
    asked = []

    def fake_sample(net, diffusion, target, generator, current, current_loss, **kwargs):
        asked.append(target[0, :2].tolist())
        drawn = current.clone()
        drawn[:, -10] = -1.0e3  # never predicts class 0; class 1 stays recognised
        return drawn

    monkeypatch.setattr(dihyfo, "sample_params", fake_sample)
    request = with_net(replace(forget_request, scenario=ForgetScenario.of_classes((0, 1))))
    request.resources["levels"] = {0: 9.0, 1: 5.0}
    config = sampling(rounds=1, max_rounds=3, stop_accuracy=1.0, level_growth=2.0)
    result = dihyfo.forget(request, config)
    assert asked == [[9.0, 5.0], [9.0, 10.0], [9.0, 20.0]]
    assert result.info["forgot_on_train_and_val"] is False
