"""SCRUB (Kurmanji, Triantafillou, Hayes & Triantafillou, NeurIPS 2023, arXiv 2302.09880).

A student starts as a copy of the original (the teacher). Each epoch begins, for the first
``max_epochs`` epochs only, with a max-step pass over the forget set (raise KL(teacher ||
student)), then a min-step pass over the retain set (lower ``gamma * CE + alpha * KL``): the
student moves away from the teacher where it must forget and stays with it elsewhere.
Kept from the authors' code: KL temperature 4, gamma 0.99, alpha 0.001, forget batch 32, retain
batch 128, weight decay 5e-4. Changed for this MLP: their SGD at lr 5e-4 barely moves it, and SGD
fast enough to forget lets the unbounded max-step collapse every class; Adam at lr 1e-3 for 10
epochs, the first 3 with max-steps, forgets every class and keeps the rest.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F

from hyperforget.unlearning import ForgetRequest, Unlearned, common


def forget(request: ForgetRequest, config: dict[str, Any]) -> Unlearned:
    (forget_images, _), (retain_images, retain_labels) = common.forget_retain(request)
    teacher = common.frozen(common.network(request))
    student = common.network(request).train()
    optimiser = common.optimizer(student.parameters(), config)
    rng = common.generator(request)
    temperature = float(config["temperature"])
    gamma, alpha = float(config["gamma"]), float(config["alpha"])
    for epoch in range(int(config["epochs"])):
        if epoch < int(config["max_epochs"]):
            for idx in common.minibatches(
                len(forget_images), int(config["forget_batch_size"]), 1, rng
            ):
                x = forget_images[idx]
                common.step(optimiser, -common.distill_kl(student(x), teacher(x), temperature))
        for idx in common.minibatches(len(retain_labels), int(config["batch_size"]), 1, rng):
            x, y = retain_images[idx], retain_labels[idx]
            logits = student(x)
            loss = gamma * F.cross_entropy(logits, y) + alpha * common.distill_kl(
                logits, teacher(x), temperature
            )
            common.step(optimiser, loss)
    return common.result(student)
