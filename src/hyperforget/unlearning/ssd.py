"""Selective Synaptic Dampening (SSD; Foster, Schoepf & Brintrup, AAAI 2024, arXiv 2308.07707).

No training: two diagonal Fisher importances, the mean squared gradient of the cross-entropy over
minibatches of the full training set (``[]_D``) and of the forget set (``[]_f``). A parameter
that matters far more to the forget set than to the data as a whole, ``[]_f > alpha * []_D``,
is dampened: multiplied by ``beta = min(lambda * []_D / []_f, 1)``. Every other parameter is left
bit-identical. Paper defaults: alpha (selection weighting) 10, lambda (dampening constant) 1.
Importances are averaged over minibatches (``batch_size``, 64 here), as the authors' code
averages over its data loader's batches.

Where one pass does not forget, more passes (a departure from the paper). The ratio
``[]_f / []_D`` is bounded by about the inverse of the forget set's share of the data: a class
that is a tenth of the data (the paper's and MNIST's case) clears alpha 10, a class that is a
quarter (MNIST-4) cannot, and one pass dampens nothing. So while the forget-train accuracy is
above ``stop_accuracy``, the importances are recomputed on the dampened network and it is
dampened again, alpha multiplied by ``alpha_decay`` each pass (not below ``min_alpha``), up to
``max_passes``. The first pass is the paper's SSD: where it forgets, nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyperforget.core.config import Config, ConfigError, setting
from hyperforget.unlearning.api import ForgetRequest, Unlearned
from hyperforget.unlearning.common import (
    STOP_ACCURACY,
    budget,
    forget_retain,
    forgotten,
    network,
    result,
    stop_bar,
)


@dataclass(frozen=True, kw_only=True)
class SSDConfig(Config):
    alpha: float = setting(gt=0.0)  # selection weighting of the first pass
    dampening: float = setting(gt=0.0, key="lambda")  # the paper's lambda
    batch_size: int = setting(ge=1)
    passes: int = setting(ge=1)  # always taken
    max_passes: int | None = setting(ge=1)  # the most, while not forgotten (null: passes)
    alpha_decay: float = setting(gt=0.0, le=1.0)
    min_alpha: float = setting(gt=0.0)
    stop_accuracy: float | None = setting(**STOP_ACCURACY)

    def check(self, where: str) -> None:
        budget(self.passes, self.max_passes, ("passes", "max_passes"), where)
        if self.min_alpha > self.alpha:
            raise ConfigError(
                f"{where}.min_alpha ({self.min_alpha}) must be at most {where}.alpha "
                f"({self.alpha})."
            )


def importances(module: nn.Module, images: Tensor, labels: Tensor, batch_size: int) -> list[Tensor]:
    """Diagonal Fisher information per parameter: squared minibatch gradients, averaged."""
    totals = [torch.zeros_like(p) for p in module.parameters()]
    batches = torch.arange(len(labels), device=labels.device).split(batch_size)
    for idx in batches:
        module.zero_grad(set_to_none=True)
        F.cross_entropy(module(images[idx]), labels[idx]).backward()
        for total, p in zip(totals, module.parameters(), strict=True):
            total.add_(p.grad.pow(2))
    return [total / len(batches) for total in totals]


def dampen(
    module: nn.Module,
    images: Tensor,
    labels: Tensor,
    forget_set,
    alpha: float,
    dampening: float,
    batch_size: int,
) -> int:
    """One SSD pass: dampen the parameters that matter ``alpha`` times more to the forget set
    than to the training data. Returns how many were dampened."""
    global_importance = importances(module, images, labels, batch_size)
    forget_importance = importances(module, *forget_set, batch_size)
    selected = 0
    with torch.no_grad():
        for p, imp_d, imp_f in zip(
            module.parameters(), global_importance, forget_importance, strict=True
        ):
            chosen = imp_f > alpha * imp_d
            beta = (dampening * imp_d / imp_f).clamp(max=1.0)
            p[chosen] *= beta[chosen]
            selected += int(chosen.sum())
    return selected


def forget(request: ForgetRequest, config: SSDConfig) -> Unlearned:
    forget_set, _ = forget_retain(request)
    module = network(request).eval()
    alpha, max_passes = config.alpha, config.max_passes or config.passes
    stop_accuracy = stop_bar(request, config.stop_accuracy, asks_for_more=True)
    selected, passes = 0, 0
    while passes < config.passes or (
        passes < max_passes and not forgotten(module, forget_set, stop_accuracy=stop_accuracy)
    ):
        selected += dampen(
            module, *request.train, forget_set, alpha, config.dampening, config.batch_size
        )
        passes += 1
        alpha = max(alpha * config.alpha_decay, config.min_alpha)
    return result(module, dampened_params=selected, passes=passes)
