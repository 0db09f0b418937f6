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

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hyperforget.core.config import setting
from hyperforget.unlearning import ForgetRequest, Unlearned, common


@dataclass(frozen=True, kw_only=True)
class RandomLabelsConfig(common.OptimiserConfig):
    batch_size: int = setting(ge=1)
    epochs: int = setting(ge=1)  # always taken
    max_steps: int | None = setting(ge=1)  # more epochs, while not forgotten, up to this many steps
    stop_accuracy: float | None = setting(**common.STOP_ACCURACY)


def forget(request: ForgetRequest, config: RandomLabelsConfig) -> Unlearned:
    forget_set, (retain_images, retain_labels) = common.forget_retain(request)
    forget_images = forget_set[0]
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

    def epoch() -> None:
        for idx in common.minibatches(len(labels), config.batch_size, 1, rng):
            common.step(optimiser, F.cross_entropy(module(images[idx]), labels[idx]))

    steps_per_epoch = math.ceil(len(labels) / config.batch_size)
    taken = common.epochs_until_forgotten(
        module,
        epoch,
        steps_per_epoch=steps_per_epoch,
        epochs=config.epochs,
        max_steps=config.max_steps,
        forget=(forget_set, common.forget_val(request)),
        stop_accuracy=config.stop_accuracy,
    )
    return common.result(module, epochs=taken, steps=taken * steps_per_epoch)
