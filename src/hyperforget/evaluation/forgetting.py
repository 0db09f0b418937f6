"""Forgetting quality F as the NeurIPS 2023 Machine Unlearning challenge scores it.

For each forget example, compare its confidence ``log p(y) - log(1 - p(y))`` under N unlearned
models with its confidence under N retrained models. The best threshold test between the two
sets gives an (epsilon, delta) bound with delta = 1e-5. Each example scores
``2 ** -floor(epsilon / 0.5)``, or 0 from ``ceil(ln(N - 1))`` on, since N models per side cannot
resolve a larger epsilon. F is the mean score over the forget examples: 1 when nothing tells the
unlearned models from retrained ones, 0 when everything does.

Which tests are tried is the estimator (``evaluation.forgetting_estimator``):

- ``reference`` (default), the challenge's own (google-deepmind/unlearning_evaluation,
  ``metric.py``): single thresholds on a grid 0.01 apart over both sets' range (the set with
  the larger median lies above), and intervals as wide as the narrower set's range give or
  take 2 (their right end on a 0.01 grid from that set's minimum + width - 2 to its maximum + 2,
  their left end on a 0.01 grid of 400 around right - width), the narrower set inside;
- ``exhaustive``: every observed confidence a single threshold, and every interval between two
  observed confidences (the narrower set inside). A larger family than the reference's, so its
  epsilons are at least as large and its F at most as large.

Both estimate the best of many tests on few models, so chance alone separates two samples of
one distribution in their tails: two sets of N Gaussian confidences score F of about 0.25
(N = 5), 0.13 (N = 16) and 0.06 (N = 256), not 1. Read F against the F of retrained models
scored against other retrained models at the same N.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

DELTA = 1e-5
EPSILON_CAP = 50.0  # an example the tests separate perfectly (the challenge's cap)
BUCKET = 0.5
LOG_TINY = math.log(1e-45)  # the challenge adds 1e-45 before its logs: p = 0 stays finite
GRID = 100  # the reference's thresholds per unit of confidence
BUFFER = 2.0  # how far the reference's interval widths range around the narrower set's range
LEFT_ENDS = 400  # the reference's left ends per right end: ceil(2 * BUFFER * GRID)
ESTIMATORS = ("reference", "exhaustive")


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


def example_epsilons(
    unlearned: Tensor, retrained: Tensor, estimator: str = "reference", delta: float = DELTA
) -> Tensor:
    """Epsilon per example from confidences ``[M_u, E]`` and ``[M_r, E]`` (models x examples),
    by one of ``ESTIMATORS``."""
    if estimator == "reference":
        return _reference_epsilons(unlearned, retrained, delta)
    if estimator == "exhaustive":
        return _exhaustive_epsilons(unlearned, retrained, delta)
    raise ValueError(f"Unknown forgetting estimator {estimator!r}; one of {ESTIMATORS}.")


def _positive_first(
    unlearned: Tensor, retrained: Tensor, median: Callable[[Tensor], Tensor]
) -> tuple[Tensor, Tensor]:
    """``[E, M]`` confidences of each example's positive set (the one with the larger
    ``median`` over models) and of its negative set."""
    unlearned, retrained = unlearned.double(), retrained.double()
    retrained_higher = median(retrained) > median(unlearned)
    pos = torch.where(retrained_higher, retrained, unlearned).T
    neg = torch.where(retrained_higher, unlearned, retrained).T
    return pos, neg


def _peaky(pos: Tensor, neg: Tensor) -> Tensor:
    """Examples where one set's range is under 1% of the other's: a peaky unlearned
    distribution is maximally bad, as in the challenge, whose tests may not be sensitive enough
    to catch it."""
    pos_range = pos.amax(1) - pos.amin(1)
    neg_range = neg.amax(1) - neg.amin(1)
    largest, smallest = torch.maximum(pos_range, neg_range), torch.minimum(pos_range, neg_range)
    return (largest > 0) & (smallest / largest < 0.01)


def _exhaustive_epsilons(unlearned: Tensor, retrained: Tensor, delta: float) -> Tensor:
    pos, neg = _positive_first(unlearned, retrained, lambda x: x.median(0).values)
    pos_range = pos.amax(1) - pos.amin(1)
    neg_range = neg.amax(1) - neg.amin(1)
    values = torch.cat([pos, neg], 1).sort(1).values  # every threshold, [E, n]

    def below(confs: Tensor, right: bool) -> Tensor:  # [E, n]: how many confs < (<=) values
        return _count_below(confs, values, right).double()

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
    return torch.where(_peaky(pos, neg), EPSILON_CAP, eps).clamp(0, EPSILON_CAP).float()


def _reference_epsilons(unlearned: Tensor, retrained: Tensor, delta: float) -> Tensor:
    """The challenge's epsilons, its tests enumerated by what they hold rather than one by one:
    a test's rates depend only on how many of each set it puts on its positive side, so each
    example's epsilon is the best of the (count, count) pairs its grid of tests reaches."""
    # numpy's median, as the challenge takes it (of an even count: the middle two's mean)
    pos, neg = _positive_first(unlearned, retrained, lambda x: x.quantile(0.5, 0))
    models = pos.shape[1]
    table = _epsilon_table(models, delta)  # [(M + 1) ** 2]: by tp count * (M + 1) + fp count
    single = _best(table, _single_threshold_counts(pos, neg), models)
    double = _best(table, _interval_counts(pos, neg), models)
    eps = torch.fmax(single, double).nan_to_num(nan=0.0)  # no test survives: nothing told
    return torch.where(_peaky(pos, neg), EPSILON_CAP, eps).clamp(0, EPSILON_CAP).float()


def _epsilon_table(models: int, delta: float) -> Tensor:
    """The epsilon of a test that puts tp of M positives and fp of M negatives on its positive
    side (``_epsilon_of_rates``), indexed by ``tp * (M + 1) + fp``. The challenge drops a test
    whose two log-ratios are both undefined (tp = 0, fp = M), where this gives it 0: an epsilon
    is at least 0, so the best of an example's tests is the same."""
    counts = torch.arange(models + 1, dtype=torch.float64) / models
    tpr, fpr = counts[:, None].expand(-1, models + 1), counts[None, :].expand(models + 1, -1)
    return _epsilon_of_rates(tpr, fpr, delta).flatten()


def _best(table: Tensor, counts: tuple[Tensor, Tensor, Tensor], models: int) -> Tensor:
    """Per example, the largest epsilon of the tests ``(tp, fp, kept)``, nan where no kept test
    proves anything."""
    tp, fp, kept = counts
    eps = table[tp * (models + 1) + fp]
    eps = torch.where(kept, eps, torch.nan)
    best = eps.nan_to_num(nan=-1.0, posinf=torch.inf).amax(-1)
    return best.masked_fill_(eps.isnan().all(-1), torch.nan)


def _count_below(confs: Tensor, values: Tensor, right: bool) -> Tensor:
    """``[E, n]``: how many of each example's confidences are < (``right``: <=) each value."""
    return torch.searchsorted(confs.sort(1).values.contiguous(), values.contiguous(), right=right)


def _single_threshold_counts(pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The reference's single thresholds: ``ceil(range * 100)`` evenly spaced over both sets'
    range (torch.linspace's values); a test puts the confidences at or above it positive."""
    both = torch.cat([pos, neg], 1)
    low, high = both.amin(1), both.amax(1)
    sizes = torch.ceil((high - low) * GRID).long()
    index = torch.arange(int(sizes.max().clamp(min=1)), dtype=torch.float64)
    n = sizes[:, None].double()
    step = (high - low)[:, None] / (n - 1).clamp(min=1)
    halfway = torch.div(sizes, 2, rounding_mode="floor")[:, None]
    values = torch.where(
        index < halfway, low[:, None] + step * index, high[:, None] - step * (n - 1 - index)
    )
    values = torch.where(n == 1, low[:, None], values)  # one step: torch.linspace gives start
    kept = index < n
    tp = pos.shape[1] - _count_below(pos, values, right=False)
    fp = neg.shape[1] - _count_below(neg, values, right=False)
    return tp, fp, kept


def _interval_counts(pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The reference's intervals [left, right], the narrower set ("peaky", positive here) inside.
    Each right end holds the sorted confidences up to it; a left end between two consecutive
    confidences starts the interval at the upper one, so the tests of one right end are the
    confidences some left end of its grid lands just below."""
    narrow_first = (pos.amax(1) - pos.amin(1)) < (neg.amax(1) - neg.amin(1))
    inside = torch.where(narrow_first[:, None], pos, neg)  # the reference's swapped positives
    outside = torch.where(narrow_first[:, None], neg, pos)
    width = inside.amax(1) - inside.amin(1)
    low = inside.amin(1) + width - BUFFER
    high = inside.amax(1) + BUFFER
    sizes = torch.ceil((high - low) * GRID).long()
    index = torch.arange(int(sizes.max()), dtype=torch.float64)
    step = ((high - low) / (sizes - 1).double())[:, None]
    rights = index * step + low[:, None]  # numpy.linspace's values, its last end exactly high
    rights = torch.where(index == (sizes - 1)[:, None], high[:, None], rights)  # [E, R]
    kept_right = index < sizes[:, None]

    merged = torch.cat([inside, outside], 1)
    order = merged.argsort(1)
    values = merged.gather(1, order)  # [E, 2M]
    is_inside = (order < inside.shape[1]).long()
    inside_before = torch.cat([torch.zeros_like(is_inside[:, :1]), is_inside.cumsum(1)], 1)
    upto = _count_below(values, rights, right=True)  # [E, R]: confidences <= right
    # left ends of right end r: numpy.linspace(r - width - BUFFER, r - width + BUFFER, 400)
    starts = rights - width[:, None] - BUFFER
    stops = rights - width[:, None] + BUFFER
    left_step = (stops - starts) / (LEFT_ENDS - 1)

    def lefts_at_most(x: Tensor) -> Tensor:  # [E, R, 2M]: left ends <= x
        steps = torch.floor((x[:, None, :] - starts[..., None]) / left_step[..., None]) + 1
        return steps.clamp(0, LEFT_ENDS)

    below_value = lefts_at_most(values)
    previous = torch.cat([torch.full_like(values[:, :1], -torch.inf), values[:, :-1]], 1)
    starts_here = below_value > lefts_at_most(previous)  # a left end in (previous, value]
    first = torch.arange(values.shape[1])[None, None, :]
    kept = starts_here & (first < upto[..., None]) & kept_right[..., None]
    inside_to = inside_before.gather(1, upto)[..., None]  # insiders among the first `upto`
    tp = inside_to - inside_before[:, None, :-1]
    total_to = upto[..., None]
    fp = (total_to - first) - tp
    return tp.flatten(1), fp.flatten(1), kept.flatten(1)


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


def forgetting_quality(unlearned: Tensor, retrained: Tensor, estimator: str = "reference") -> float:
    """F in [0, 1] from the forget examples' confidences under ``[N, E]`` unlearned and ``[N, E]``
    retrained models (equally many, as the challenge compares them)."""
    if unlearned.shape != retrained.shape:
        raise ValueError(
            f"Forgetting quality compares equally many models on the same examples; got "
            f"{list(unlearned.shape)} unlearned and {list(retrained.shape)} retrained."
        )
    epsilons = example_epsilons(unlearned, retrained, estimator)
    return float(example_scores(epsilons, unlearned.shape[0]).mean())


def example_sample(f_train: Tensor, count: int | None, seed: int) -> Tensor:
    """Indices of the training samples F scores: a seeded sample of ``count`` forgotten ones."""
    forgotten = f_train.nonzero()[:, 0]
    if count is None or len(forgotten) <= count:
        return forgotten
    chosen = torch.randperm(len(forgotten), generator=torch.Generator().manual_seed(seed))
    return forgotten[chosen[:count].sort().values]
