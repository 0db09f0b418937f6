"""Gradient ascent (GA, "NegGrad"): maximise the cross-entropy of the forget set.

Climbing the forget loss unlearns fast but is unbounded: a few steps too many and the network
collapses onto the other classes for every input (Kurmanji et al. 2023 report the same poor
utility). So ascent stops as soon as the network's accuracy on the forget training samples has
fallen to ``stop_accuracy`` percent (checked after every step; ``null`` runs every epoch), and
``retain_weight > 0`` adds descent on a retain batch to every step (NegGrad+, Kurmanji et al.
2023). Baseline of Thudi et al. 2022 and Kurmanji et al. 2023. Defaults: plain NegGrad
(retain_weight 0), SGD lr 0.001, momentum 0.9, batch 64, at most 50 epochs over D_f, stop at 0%:
small steps, because the one step past the stop point is what collapses the retained classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from hyperforget.core.config import setting
from hyperforget.unlearning import common
from hyperforget.unlearning.api import ForgetRequest, Unlearned


@dataclass(frozen=True, kw_only=True)
class AscentConfig(common.OptimiserConfig):
    batch_size: int = setting(ge=1)
    epochs: int = setting(ge=1)  # at most
    stop_accuracy: float | None = setting(**common.STOP_ACCURACY)  # null: every epoch
    retain_weight: float = setting(ge=0.0)  # > 0: NegGrad+


def forget(request: ForgetRequest, config: AscentConfig) -> Unlearned:
    (forget_images, forget_labels), (retain_images, retain_labels) = common.forget_retain(request)
    module = common.network(request).train()
    optimiser = common.optimizer(module.parameters(), config)
    rng = common.generator(request)
    batch_size, retain_weight = config.batch_size, config.retain_weight
    stop_accuracy = common.stop_bar(request, config.stop_accuracy, asks_for_more=False)
    retain_batches = common.cycle(len(retain_labels), batch_size, rng)
    steps = 0
    for idx in common.minibatches(len(forget_labels), batch_size, config.epochs, rng):
        loss = -F.cross_entropy(module(forget_images[idx]), forget_labels[idx])
        if retain_weight > 0:
            r = next(retain_batches)
            loss = loss + retain_weight * F.cross_entropy(
                module(retain_images[r]), retain_labels[r]
            )
        common.step(optimiser, loss)
        steps += 1
        if stop_accuracy is not None and common.forgotten(
            module,
            (forget_images, forget_labels),
            stop_accuracy=stop_accuracy,
        ):
            break
    return common.result(module, ascent_steps=steps)
