"""Forgetting quality F as the NeurIPS 2023 Machine Unlearning challenge scores it.

For each forget example, compare its confidence ``log p(y) - log(1 - p(y))`` under N unlearned
models with its confidence under N retrained models. The best threshold test between the two
sets gives an (epsilon, delta) bound with delta = 1e-5. Each example scores
``2 ** -floor(epsilon / 0.5)``, or 0 from ``ceil(ln(N - 1))`` on, since N models per side cannot
resolve a larger epsilon. F is the mean score over the forget examples: 1 when nothing tells the
unlearned models from retrained ones, 0 when everything does.

Two families of tests, as in the challenge (google-deepmind/unlearning_evaluation,
``metric.py``): a single threshold (the set with the larger median lies above it) and an
interval (the set with the narrower range lies inside it). The challenge scans both on a grid
0.01 apart; here every observed confidence is a threshold. That is the exact optimum over those
families for finite samples, with no grid to miss.

The estimate is the best of many tests on few models, so chance alone separates two samples of
one distribution in their tails: two sets of N Gaussian confidences score F of about 0.25
(N = 5), 0.13 (N = 16) and 0.06 (N = 256), not 1. Read F against the F of retrained models
scored against other retrained models at the same N.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

DELTA = 1e-5
EPSILON_CAP = 50.0  # an example the tests separate perfectly (the challenge's cap)
BUCKET = 0.5
LOG_TINY = math.log(1e-45)  # the challenge adds 1e-45 before its logs: p = 0 stays finite


def logit_confidence(log_probs: Tensor, labels: Tensor) -> Tensor:
    """``log p(y) - log(1 - p(y))`` of each sample, from log-probabilities ``[..., N, K]``.

    ``1 - p(y)`` is the other classes' total mass, summed in log space, so a confident model
    does not round it to 0.
    """
    index = labels.expand(*log_probs.shape[:-1]).unsqueeze(-1)
    log_p = log_probs.gather(-1, index).squeeze(-1)
    others = log_probs.scatter(-1, index, -torch.inf).logsumexp(-1)
    return log_p.clamp(min=LOG_TINY) - others.clamp(min=LOG_TINY)


def _epsilon_of_rates(tpr: Tensor, fpr: Tensor, delta: float) -> Tensor:
    """The challenge's epsilon of each test from its rates; nan where a test proves nothing."""
    fnr, tnr = 1 - tpr, 1 - fpr
    with torch.no_grad():
        ratios = torch.stack(
            [
                torch.log(1 - delta - fpr) - torch.log(fnr),
                torch.log(1 - delta - fnr) - torch.log(fpr),
            ]
        )
    eps = ratios.nan_to_num(nan=-torch.inf).amax(0).clamp(min=0)
    perfect = (fpr + fnr == 0) & (tpr + tnr == 2)
    one_error_free = (fpr * fnr == 0) & ~perfect  # too few samples to bound: discarded
    eps = torch.where(perfect, torch.inf, eps)
    return torch.where(one_error_free, torch.nan, eps)


def example_epsilons(unlearned: Tensor, retrained: Tensor, delta: float = DELTA) -> Tensor:
    """Epsilon per example from confidences ``[M_u, E]`` and ``[M_r, E]`` (models x examples)."""
    unlearned, retrained = unlearned.double(), retrained.double()
    retrained_higher = retrained.median(0).values > unlearned.median(0).values
    pos = torch.where(retrained_higher, retrained, unlearned).T  # [E, M_pos]
    neg = torch.where(retrained_higher, unlearned, retrained).T
    pos_range = pos.amax(1) - pos.amin(1)
    neg_range = neg.amax(1) - neg.amin(1)
    values = torch.cat([pos, neg], 1).sort(1).values  # every threshold, [E, n]

    def below(confs: Tensor, right: bool) -> Tensor:  # [E, n]: how many confs < (<=) values
        return torch.searchsorted(confs.sort(1).values.contiguous(), values, right=right).double()

    def share_at_least(confs: Tensor) -> Tensor:  # [E, n]: share of confs >= each value
        return 1 - below(confs, right=False) / confs.shape[1]

    def share_within(confs: Tensor) -> Tensor:  # [E, n, n]: share in [values[a], values[b]]
        inside = below(confs, right=True)[:, None, :] - below(confs, right=False)[:, :, None]
        return inside.clamp(min=0) / confs.shape[1]

    single = _epsilon_of_rates(share_at_least(pos), share_at_least(neg), delta)
    # interval tests: the set with the narrower range is the one predicted inside
    narrow_is_pos = (pos_range < neg_range)[:, None, None]
    inside_pos, inside_neg = share_within(pos), share_within(neg)
    interval = _epsilon_of_rates(
        torch.where(narrow_is_pos, inside_pos, inside_neg),
        torch.where(narrow_is_pos, inside_neg, inside_pos),
        delta,
    ).flatten(1)
    eps = torch.cat([single, interval], 1).nan_to_num(nan=0.0).amax(1)
    largest = torch.maximum(pos_range, neg_range)
    smallest = torch.minimum(pos_range, neg_range)
    # a peaky unlearned distribution (one range under 1% of the other) is maximally bad, as in
    # the challenge, whose tests may not be sensitive enough to catch it
    peaky = (largest > 0) & (smallest < 0.01 * largest)
    eps = torch.where(peaky, EPSILON_CAP, eps)
    return eps.clamp(0, EPSILON_CAP).float()


def resolvable_epsilon(num_models: int) -> int:
    """The largest epsilon N models per side can resolve, ``ceil(ln(N - 1))`` (the challenge's
    back-of-the-envelope bound); needs N >= 3."""
    if num_models < 3:
        raise ValueError(
            f"Forgetting quality needs at least 3 models per side, got {num_models}; raise "
            "evaluation.method_runs (and the retrained models per scenario) to 3 or more."
        )
    return math.ceil(math.log(num_models - 1))


def example_scores(epsilons: Tensor, num_models: int) -> Tensor:
    """``2 ** -floor(eps / 0.5)`` per example, 0 where eps reaches the resolvable bound."""
    scores = torch.pow(2.0, -torch.floor(epsilons / BUCKET))
    return torch.where(epsilons < resolvable_epsilon(num_models), scores, 0.0)


def forgetting_quality(unlearned: Tensor, retrained: Tensor) -> float:
    """F in [0, 1] from the forget examples' confidences under ``[N, E]`` unlearned and ``[N, E]``
    retrained models (equally many, as the challenge compares them)."""
    if unlearned.shape != retrained.shape:
        raise ValueError(
            f"Forgetting quality compares equally many models on the same examples; got "
            f"{list(unlearned.shape)} unlearned and {list(retrained.shape)} retrained."
        )
    epsilons = example_epsilons(unlearned, retrained)
    return float(example_scores(epsilons, unlearned.shape[0]).mean())


def example_sample(f_train: Tensor, count: int | None, seed: int) -> Tensor:
    """Indices of the training samples F scores: a seeded sample of ``count`` forgotten ones."""
    forgotten = f_train.nonzero()[:, 0]
    if count is None or len(forgotten) <= count:
        return forgotten
    chosen = torch.randperm(len(forgotten), generator=torch.Generator().manual_seed(seed))
    return forgotten[chosen[:count].sort().values]
