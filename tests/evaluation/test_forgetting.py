import math

import numpy as np
import pytest
import torch

from hyperforget.evaluation import forgetting
from tests.evaluation import reference_metric


def test_logit_confidence_is_log_odds_of_the_true_label():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.25, 0.25, 0.5]])
    labels = torch.tensor([0, 2])
    conf = forgetting.logit_confidence(probs.log(), labels)
    expected = torch.tensor([math.log(0.7 / 0.3), math.log(0.5 / 0.5)])
    torch.testing.assert_close(conf, expected)
    # several models at once: [M, N, K]
    stacked = forgetting.logit_confidence(torch.stack([probs.log()] * 3), labels)
    assert stacked.shape == (3, 2)
    # a zero-probability label (an SPM's deleted class) stays finite
    zero = forgetting.logit_confidence(torch.tensor([[0.0, 1.0]]).log(), torch.tensor([0]))
    assert torch.isfinite(zero).all()


def test_epsilon_of_a_hand_computed_case():
    # retrained {0, 1, 2, 3}, unlearned {2.5, 3.5, 4.5, 5.5}: the best test (unlearned >= 3)
    # has tpr 3/4, fpr 1/4, so eps = log((1 - 1/4 - delta) / (1/4)) = log(3 - 4 delta)
    retrained = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    unlearned = torch.tensor([[2.5], [3.5], [4.5], [5.5]])
    eps = forgetting.example_epsilons(unlearned, retrained)
    assert eps.item() == pytest.approx(math.log(3 - 4 * forgetting.DELTA), rel=1e-6)
    # 4 models per side resolve eps < ceil(ln 3) = 2; 1.0986 lies in bucket [1, 1.5): 1/4
    assert forgetting.example_scores(eps, 4).item() == 0.25


def test_perfect_separation_scores_zero_and_overlap_scores_one():
    low = torch.arange(5.0)[:, None]
    assert forgetting.example_epsilons(low + 100, low).item() == forgetting.EPSILON_CAP
    assert forgetting.forgetting_quality(low + 100, low) == 0.0
    assert forgetting.forgetting_quality(low, low) == 1.0


def test_same_distribution_scores_far_above_never_forgetting():
    """Two samples of one distribution: F at the estimator's finite-sample level (the module's
    doc), far above never forgetting (next test); separated ones score 0."""
    generator = torch.Generator().manual_seed(0)
    retrained = torch.randn(16, 400, generator=generator)
    unlearned = torch.randn(16, 400, generator=generator)
    same = forgetting.forgetting_quality(unlearned, retrained)
    assert 0.08 < same < 0.2
    shifted = forgetting.forgetting_quality(unlearned + 3.0, retrained)
    assert shifted < 0.05


def test_never_forgetting_gives_f_near_zero():
    """Copies of the original: one confident value per example, far from the retrained ones."""
    generator = torch.Generator().manual_seed(1)
    retrained = torch.randn(16, 400, generator=generator) - 3.0
    original = 6.0 + torch.randn(1, 400, generator=generator)
    assert forgetting.forgetting_quality(original.expand(16, -1), retrained) == 0.0


def test_forgetting_quality_needs_equal_sides_and_three_models():
    with pytest.raises(ValueError, match="equally many models"):
        forgetting.forgetting_quality(torch.zeros(4, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match="at least 3 models per side"):
        forgetting.forgetting_quality(torch.zeros(2, 3), torch.ones(2, 3))


def _confidences_of_six_kinds(models: int, examples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``[models, examples]`` unlearned and retrained confidences: per example one of the same
    distribution, separated, wider, peaky, shifted and overlapping."""
    generator = torch.Generator().manual_seed(models)

    def draw(scale: float, shift: float) -> torch.Tensor:
        return torch.randn(models, generator=generator, dtype=torch.float64) * scale + shift

    kinds = [(2, 3), (0.5, -4), (8, 1), (0.01, 3), (1, 6), (3, 2.5)]
    unlearned = torch.stack([draw(*kinds[e % len(kinds)]) for e in range(examples)], 1)
    retrained = torch.stack([draw(2, 3) for _ in range(examples)], 1)
    return unlearned, retrained


@pytest.mark.parametrize("models", [4, 5])
def test_reference_estimator_equals_the_challenges_code(models):
    """Epsilons and F against a line-by-line port of the challenge's metric.py
    (tests/evaluation/reference_metric.py), with an even and an odd number of models (numpy's
    median of an even count is the mean of the middle two)."""
    unlearned, retrained = _confidences_of_six_kinds(models, 9)
    ours = forgetting.example_epsilons(unlearned, retrained, "reference").double().numpy()
    u, r = unlearned.numpy(), retrained.numpy()
    retrained_higher = np.median(r, 0) > np.median(u, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        theirs = reference_metric._get_epsilons(
            np.where(retrained_higher, r, u), np.where(retrained_higher, u, r), forgetting.DELTA
        )
        their_f = reference_metric.compute_forget_score_from_confs(u, r)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    assert 0 < ours.min() and (ours < forgetting.EPSILON_CAP).sum() >= 4  # not only the cap
    assert forgetting.forgetting_quality(unlearned, retrained, "reference") == pytest.approx(
        their_f
    )
    exhaustive = forgetting.example_epsilons(unlearned, retrained, "exhaustive").double().numpy()
    assert (exhaustive >= ours - 1e-6).all()  # the larger family finds at least as much


def test_an_unknown_estimator_is_named():
    with pytest.raises(ValueError, match="Unknown forgetting estimator 'grid'"):
        forgetting.example_epsilons(torch.zeros(3, 2), torch.ones(3, 2), "grid")
