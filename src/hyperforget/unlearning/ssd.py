"""Selective Synaptic Dampening (SSD; Foster, Schoepf & Brintrup, AAAI 2024, arXiv 2308.07707).

No training: two diagonal Fisher importances, the mean squared gradient of the cross-entropy over
minibatches of the full training set (``[]_D``) and of the forget set (``[]_f``). A parameter
that matters far more to the forget set than to the data as a whole, ``[]_f > alpha * []_D``,
is dampened: multiplied by ``beta = min(lambda * []_D / []_f, 1)``. Every other parameter is left
bit-identical. Paper defaults: alpha (selection weighting) 10, lambda (dampening constant) 1.
Importances are averaged over minibatches (``batch_size``, 64 here), as the authors' code
averages over its data loader's batches.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyperforget.unlearning import ForgetRequest, Unlearned
from hyperforget.unlearning.common import forget_retain, network, result


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


def forget(request: ForgetRequest, config: dict[str, Any]) -> Unlearned:
    (forget_images, forget_labels), _ = forget_retain(request)
    module = network(request).eval()
    batch_size = int(config["batch_size"])
    alpha, dampening = float(config["alpha"]), float(config["lambda"])
    global_importance = importances(module, *request.train, batch_size)
    forget_importance = importances(module, forget_images, forget_labels, batch_size)
    selected = 0
    with torch.no_grad():
        for p, imp_d, imp_f in zip(
            module.parameters(), global_importance, forget_importance, strict=True
        ):
            chosen = imp_f > alpha * imp_d
            beta = (dampening * imp_d / imp_f).clamp(max=1.0)
            p[chosen] *= beta[chosen]
            selected += int(chosen.sum())
    return result(module, dampened_params=selected)
