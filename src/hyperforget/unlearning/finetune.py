"""Fine-tuning (FT): keep training the original network on the retain set only.

The forgotten classes are never seen again, so their logits are pushed down by every retain
batch and the network drifts away from them (catastrophic forgetting). The usual baseline of the
unlearning literature (e.g. Golatkar et al. 2020, Kurmanji et al. 2023 "FT"), which trains for a
few epochs with a learning rate below the original training's. Defaults: SGD, lr 0.05 (half
the original's), momentum 0.9, weight decay 5e-4, batch 128, 15 epochs over D_r, then more
epochs while the accuracy on the forget set's training or val samples is above
``stop_accuracy`` percent (0: none is recognised), as long as they fit in ``max_steps``
optimiser steps in all. How fast a class drifts away depends on the class and
the data, and it takes about as many steps on small data as on large, so the cap counts steps,
not epochs (an epoch of 2,000 digits is a dozen steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from hyperforget.unlearning import common
from hyperforget.unlearning.api import ForgetRequest, Unlearned


@dataclass(frozen=True, kw_only=True)
class FinetuneConfig(common.EpochsConfig):
    """The optimiser and the epochs of :class:`common.EpochsConfig`; nothing more."""


def forget(request: ForgetRequest, config: FinetuneConfig) -> Unlearned:
    forget_set, (images, labels) = common.forget_retain(request)
    forget = (forget_set, common.forget_val(request))
    module = common.network(request).train()
    optimiser = common.optimizer(module.parameters(), config)

    def batch_loss(idx: Tensor) -> Tensor:
        return F.cross_entropy(module(images[idx]), labels[idx])

    rng = common.generator(request)
    return common.train_until_forgotten(
        module, optimiser, batch_loss, len(labels), rng, forget, config, request
    )
