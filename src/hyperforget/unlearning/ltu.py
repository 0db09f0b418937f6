"""Learning to unlearn (LTU; Huang, Foo & Liu, ECCV 2024, arXiv 2407.10494): meta-learned
remembering, a forgetting loss, and gradient harmonisation between the two. The paper's code is not
public; every choice below is ours.

* **Retain subset**: a seeded random ``retain_fraction`` (default 10%) of the retain training
  samples. Nothing else of D_r is ever read.
* **Remember gradient (meta-optimisation)**: each step draws a support batch and a disjoint
  query batch from the subset, takes one inner SGD step on the support batch (lr ``inner_lr``)
  and measures the cross-entropy of the adapted weights on the query batch. Its gradient with
  respect to the current weights is the remember gradient: second-order through the inner step,
  or first-order (the query gradient at the adapted weights, as in first-order MAML), by
  ``second_order``. Minimising it keeps weights from which one more step still generalises to
  unseen retain samples, which is how LTU preserves generalisation from a small subset.
* **Forget gradient**: on a forget batch, the cross-entropy to the original network's own
  prediction with the forgotten classes' mass removed and the rest renormalised, i.e. what the
  original would answer if those classes did not exist, which is how a retrained oracle treats
  them. It is bounded, unlike gradient ascent, and sends each forget sample to its runner-up
  classes instead of collapsing every prediction onto one class (as ``-log(1 - p_F)`` does). A
  membership-inference term is added with weight
  ``mia_weight``: the entropy-threshold attack calls low-entropy samples members, so
  ``-entropy`` of the forget samples' predictions over the remaining classes is minimised to
  make them look unseen. With ``renormalise_retain`` the same target is also applied to the
  step's query batch of retain samples: a retain sample the original took for a forgotten class
  moves to its next choice, as it would under the oracle.
* **Gradient harmonisation** (PCGrad-style): when the remember and forget gradients conflict
  (negative inner product), each is projected onto the normal plane of the other (both
  projections use the original gradients), then they are summed with the forget one weighted by
  ``forget_weight``. Without conflict they are summed unchanged. ``harmonise: false`` gives the
  ablation ``ltu_no_harmonisation``.
* The summed gradient feeds an Adam step for ``steps`` steps, then for more (up to
  ``max_steps``, checked every ``check_every``) while the forget-train or the forget-val
  accuracy is above ``stop_accuracy`` percent: a fixed number of steps forgets a small class but
  leaves a few percent of a large one, and the forget samples LTU trains on are forgotten
  before unseen ones of their class, which only the val samples show. The share of steps whose
  gradients conflicted is reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

from hyperforget.core.config import setting
from hyperforget.core.flat_params import ParamLayout
from hyperforget.unlearning import common
from hyperforget.unlearning.api import ForgetRequest, Unlearned


@dataclass(frozen=True, kw_only=True)
class LTUConfig(common.OptimiserConfig):
    retain_fraction: float = setting(gt=0.0, le=1.0)  # of the retain set, all LTU may read
    support_size: int = setting(ge=1)
    query_size: int = setting(ge=1)
    forget_batch_size: int = setting(ge=1)
    inner_lr: float = setting(gt=0.0)
    second_order: bool = setting()
    forget_weight: float = setting(ge=0.0)
    mia_weight: float = setting(ge=0.0)
    renormalise_retain: bool = setting()
    steps: int = setting(ge=0)  # always taken
    max_steps: int | None = setting(ge=0)  # the most, while not forgotten (null: steps)
    stop_accuracy: float | None = setting(**common.STOP_ACCURACY)
    check_every: int = setting(ge=1)
    harmonise: bool = setting()  # false: the ablation ltu_no_harmonisation

    def check(self, where: str) -> None:
        common.budget(self.steps, self.max_steps, ("steps", "max_steps"), where)


def harmonise(remember: Tensor, forget: Tensor) -> tuple[Tensor, Tensor, bool]:
    """Project two conflicting gradients onto each other's normal plane (PCGrad).

    Returns the two (possibly projected) gradients and whether they conflicted. After the
    projection each has a non-negative inner product with both original gradients.
    """
    dot = remember @ forget
    if dot >= 0:
        return remember, forget, False
    tiny = torch.finfo(remember.dtype).tiny
    projected_remember = remember - dot / forget.pow(2).sum().clamp_min(tiny) * forget
    projected_forget = forget - dot / remember.pow(2).sum().clamp_min(tiny) * remember
    return projected_remember, projected_forget, True


def retain_subset(num_retain: int, fraction: float, rng: torch.Generator) -> Tensor:
    """Indices of a random ``fraction`` of the retain set (rounded down, at least one sample)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"retain_fraction must be in (0, 1], got {fraction}.")
    size = max(1, math.floor(fraction * num_retain))
    return torch.randperm(num_retain, generator=rng)[:size]


def forget_loss(
    logits: Tensor,
    original_logits: Tensor,
    forget_classes: tuple[int, ...],
    mia_weight: float,
    mia_rows: int | None = None,
) -> Tensor:
    """Cross-entropy to the original's prediction with the forgotten classes removed, minus
    ``mia_weight`` times the entropy of the prediction over the remaining classes on the first
    ``mia_rows`` rows (the forget samples; default all)."""
    log_probs = F.log_softmax(logits, dim=1)
    forgotten = torch.zeros(logits.shape[1], dtype=torch.bool, device=logits.device)
    forgotten[list(forget_classes)] = True
    target = F.softmax(original_logits.masked_fill(forgotten, float("-inf")), dim=1)
    loss = -(target * log_probs.masked_fill(forgotten, 0.0)).sum(1).mean()
    if mia_weight:
        remaining = F.log_softmax(logits[:mia_rows, ~forgotten], dim=1)
        entropy = -(remaining.exp() * remaining).sum(1).mean()
        loss = loss - mia_weight * entropy
    return loss


def _retain_batches(
    retain_set: tuple[Tensor, Tensor], config: LTUConfig, rng: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """The retain subset LTU may read (its indices, images and labels), checked to hold a
    support batch and a query batch."""
    retain_images, retain_labels = retain_set
    subset = retain_subset(len(retain_labels), config.retain_fraction, rng)
    if config.support_size + config.query_size > len(subset):
        raise ValueError(
            f"LTU's retain subset has {len(subset)} samples, fewer than a support batch "
            f"({config.support_size}) plus a query batch ({config.query_size}); raise "
            "retain_fraction or lower the batch sizes."
        )
    return subset, retain_images[subset], retain_labels[subset]


def _remember_gradient(  # noqa: PLR0913 (the network, the retain batches, the inner step)
    module: nn.Module,
    params: dict[str, Tensor],
    images: Tensor,
    labels: Tensor,
    support: Tensor,
    query: Tensor,
    config: LTUConfig,
) -> tuple[Tensor, ...]:
    """The query loss's gradient after one inner SGD step on the support batch (second-order
    through that step, or first-order)."""
    support_loss = F.cross_entropy(module(images[support]), labels[support])
    inner = torch.autograd.grad(support_loss, params.values(), create_graph=config.second_order)
    adapted = {n: p - config.inner_lr * g for (n, p), g in zip(params.items(), inner, strict=True)}
    query_logits = functional_call(module, adapted, (images[query],))
    query_loss = F.cross_entropy(query_logits, labels[query])
    return torch.autograd.grad(query_loss, params.values())


def _forget_gradient(  # noqa: PLR0913 (the network, the forget batch and the retain query)
    module: nn.Module,
    params: dict[str, Tensor],
    batch: tuple[Tensor, Tensor],
    query: tuple[Tensor, Tensor] | None,
    request: ForgetRequest,
    config: LTUConfig,
) -> tuple[Tensor, ...]:
    """The gradient of ``forget_loss`` on a forget batch (and on the retain query batch, when
    given: ``renormalise_retain``), each ``(images, the original's logits)``: the forgotten
    classes' probability mass taken out."""
    images, original_logits = batch
    forget_rows = len(images)
    if query is not None:
        images = torch.cat([images, query[0]])
        original_logits = torch.cat([original_logits, query[1]])
    loss = forget_loss(
        module(images), original_logits, request.forget_classes, config.mia_weight, forget_rows
    )
    return torch.autograd.grad(loss, params.values())


def _combined(
    layout: ParamLayout,
    params: dict[str, Tensor],
    remember: Sequence[Tensor],
    forget_grad: Sequence[Tensor],
    config: LTUConfig,
) -> tuple[Tensor, bool]:
    """The step's flat gradient ``remember + forget_weight * forget`` (harmonised when
    ``harmonise``) and whether the two conflicted."""
    remember_flat = layout.flatten(dict(zip(params, remember, strict=True)))
    forget_flat = config.forget_weight * layout.flatten(dict(zip(params, forget_grad, strict=True)))
    if config.harmonise:
        remember_flat, forget_flat, conflicted = harmonise(remember_flat, forget_flat)
    else:
        conflicted = bool(remember_flat @ forget_flat < 0)
    return remember_flat + forget_flat, conflicted


def forget(request: ForgetRequest, config: LTUConfig) -> Unlearned:
    """Adam steps on the harmonised remember and forget gradients, until the forgotten classes
    are no longer recognised (or ``max_steps``)."""
    forget_set, retain_set = common.forget_retain(request)
    forget_images, forget_val = forget_set[0], common.forget_val(request)
    rng = common.generator(request)
    min_steps, max_steps = config.steps, config.max_steps or config.steps
    stop_accuracy = common.stop_bar(request, config.stop_accuracy, asks_for_more=True)
    subset, subset_images, subset_labels = _retain_batches(retain_set, config, rng)
    support_size, query_size = config.support_size, config.query_size
    module = common.network(request)
    with torch.no_grad():  # what the original answers never changes: computed once
        original = common.frozen(common.network(request))
        original_forget, original_subset = original(forget_images), original(subset_images)
    params = dict(module.named_parameters())
    layout = ParamLayout.from_module(module)
    optimiser = common.optimizer(params.values(), config)
    forget_batches = common.cycle(len(forget_images), config.forget_batch_size, rng)
    conflicts, steps = 0, 0
    while steps < max_steps:
        checked = steps >= min_steps and (steps - min_steps) % config.check_every == 0
        if checked and common.forgotten(
            module,
            forget_set,
            forget_val,
            stop_accuracy=stop_accuracy,
        ):
            break
        steps += 1
        order = torch.randperm(len(subset), generator=rng)
        support, query = order[:support_size], order[support_size : support_size + query_size]
        # Remember: one inner step on the support batch, then the query loss of the result.
        remember = _remember_gradient(
            module, params, subset_images, subset_labels, support, query, config
        )
        # Forget: take the forgotten classes' probability mass out of the forget batch (and of
        # the query batch, with renormalise_retain).
        rows = next(forget_batches)
        batch = forget_images[rows], original_forget[rows]
        retain_query = (
            (subset_images[query], original_subset[query]) if config.renormalise_retain else None
        )
        forget_grad = _forget_gradient(module, params, batch, retain_query, request, config)
        gradient, conflicted = _combined(layout, params, remember, forget_grad, config)
        conflicts += conflicted
        for name, grad in layout.unflatten(gradient).items():
            params[name].grad = grad
        optimiser.step()
    return common.result(
        module,
        steps=steps,
        conflict_fraction=conflicts / max(steps, 1),
        retain_samples=len(subset),
        retain_fraction_used=len(subset) / len(retain_set[1]),
    )
