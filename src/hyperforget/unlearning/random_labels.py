"""Random labels (RL): relabel every forget sample with a random wrong class and train on those
together with the retain set.

The network learns that the forget samples mean nothing in particular while the retain samples
keep their knowledge alive (Golatkar et al. 2020; "Amnesiac" relabelling of Graves et al. 2021;
the RL baseline of SalUn, Fan et al. 2024). Each forget sample draws one label, uniform over the
classes that are not forgotten. Defaults: SGD, lr 0.02, momentum 0.9, weight decay 5e-4, batch
64, 5 epochs over D_r and the relabelled D_f, then more epochs (a departure from the papers'
fixed budget) while a forget sample of the training or val split is still recognised, up to
``max_steps`` optimiser steps in all: 5 epochs of small data are too few steps to unlearn a
class.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from hyperforget.unlearning import common
from hyperforget.unlearning.api import ForgetRequest, Unlearned


@dataclass(frozen=True, kw_only=True)
class RandomLabelsConfig(common.EpochsConfig):
    """The optimiser and the epochs of :class:`common.EpochsConfig`; nothing more."""


def forget(request: ForgetRequest, config: RandomLabelsConfig) -> Unlearned:
    forget_set, (retain_images, retain_labels) = common.forget_retain(request)
    forget_images = forget_set[0]
    forget = (forget_set, common.forget_val(request))
    rng = common.generator(request)
    kept = [k for k in range(request.num_classes) if k not in request.forget_classes]
    if not kept:
        raise ValueError("Random labels needs at least one class that is not forgotten.")
    choice = torch.randint(len(kept), (len(forget_images),), generator=rng)
    random_labels = torch.tensor(kept)[choice].to(retain_labels.device)
    images = torch.cat([retain_images, forget_images])
    labels = torch.cat([retain_labels, random_labels])
    module = common.network(request).train()
    optimiser = common.optimizer(module.parameters(), config)

    def batch_loss(idx: Tensor) -> Tensor:
        return F.cross_entropy(module(images[idx]), labels[idx])

    return common.train_until_forgotten(
        module, optimiser, batch_loss, len(labels), rng, forget, config, request
    )
