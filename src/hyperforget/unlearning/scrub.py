"""SCRUB (Kurmanji, Triantafillou, Hayes & Triantafillou, NeurIPS 2023, arXiv 2302.09880).

A student starts as a copy of the original (the teacher). Each epoch begins, for the first
``max_epochs`` epochs only, with a max-step pass over the forget set (raise KL(teacher ||
student)), then a min-step pass over the retain set (lower ``gamma * CE + alpha * KL``): the
student moves away from the teacher where it must forget and stays with it elsewhere.
Kept from the authors' code: the min-step's KL temperature 4, gamma 0.99, alpha 0.001, retain
batch 128, weight decay 5e-4. Changed for this MLP: their SGD at lr 5e-4 barely moves it, and SGD
fast enough to forget lets the unbounded max-step collapse every class; Adam at lr 1e-3 for 10
epochs, the first 3 with max-steps.

A later epoch also starts with a max pass while the forget-train accuracy is above
``stop_accuracy`` (a departure from the paper's fixed ``msteps``): the min steps on the retain
set can pull a class back after the last of the paper's max passes.

The max-step's KL is taken at its own temperature, ``max_temperature`` (1 by default; the
min-step's stays at ``temperature``, 4). KL(teacher || student) rises two ways: by lowering the
student's probability of what the teacher predicts (forgetting), or, where a softened teacher
spreads mass over other classes, by making the student surer of the forgotten class than the
teacher. At temperature 4 an easy class (MNIST's 1s) takes the second way: the max passes raise
its forget-train accuracy while each one costs retained accuracy. At temperature 1 the teacher's
output on a forget sample is nearly one-hot, the second way gains nothing, and the ascent lowers
the forgotten class.

The max-step pass is ``forget_steps`` optimiser steps over the whole forget set (its batch is
the forget set split that many ways), not a fixed batch size: the max-step is unbounded, so its
damage grows with the number of ascent steps, and with a fixed batch that number grows with the
forget set (a full MNIST class gives about 20 times the steps of the embedded sample's, enough to
collapse every prediction onto the forgotten class).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F

from hyperforget.core.config import setting
from hyperforget.unlearning import common
from hyperforget.unlearning.api import ForgetRequest, Unlearned


@dataclass(frozen=True, kw_only=True)
class ScrubConfig(common.OptimiserConfig):
    batch_size: int = setting(ge=1)  # retain batches
    epochs: int = setting(ge=1)
    max_epochs: int = setting(ge=0)  # the first max_epochs epochs start with a max pass
    stop_accuracy: float | None = setting(**common.STOP_ACCURACY)  # and later ones, while the
    # forget-train accuracy is above it (null: only the first max_epochs)
    temperature: float = setting(gt=0.0)  # of the min-step's KL to the teacher
    max_temperature: float = setting(gt=0.0)  # of the max-step's KL (see the module docstring)
    gamma: float = setting(ge=0.0)
    alpha: float = setting(ge=0.0)
    forget_steps: int = setting(ge=1)


def forget(request: ForgetRequest, config: ScrubConfig) -> Unlearned:
    forget_set, (retain_images, retain_labels) = common.forget_retain(request)
    forget_images = forget_set[0]
    teacher = common.frozen(common.network(request))
    student = common.network(request).train()
    optimiser = common.optimizer(student.parameters(), config)
    rng = common.generator(request)
    temperature, max_temperature = config.temperature, config.max_temperature
    gamma, alpha = config.gamma, config.alpha
    forget_batch = math.ceil(len(forget_images) / config.forget_steps)
    stop_accuracy = common.stop_bar(request, config.stop_accuracy, asks_for_more=True)
    for epoch in range(config.epochs):
        if epoch < config.max_epochs or not common.forgotten(
            student,
            forget_set,
            stop_accuracy=stop_accuracy,
        ):
            for idx in common.minibatches(len(forget_images), forget_batch, 1, rng):
                x = forget_images[idx]
                common.step(optimiser, -common.distill_kl(student(x), teacher(x), max_temperature))
        for idx in common.minibatches(len(retain_labels), config.batch_size, 1, rng):
            x, y = retain_images[idx], retain_labels[idx]
            logits = student(x)
            loss = gamma * F.cross_entropy(logits, y) + alpha * common.distill_kl(
                logits, teacher(x), temperature
            )
            common.step(optimiser, loss)
    return common.result(student)
