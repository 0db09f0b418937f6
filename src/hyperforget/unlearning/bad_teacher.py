"""Bad teacher (Chundawat, Tarun, Mandal & Kankanhalli, AAAI 2023, arXiv 2205.08096).

A student initialised from the original distils from two teachers: the competent one (the
original) on retain samples and an incompetent one (a randomly initialised network of the same
architecture) on forget samples, KL at temperature 1. The student keeps the original's
knowledge of the retain classes and copies noise on the forgotten ones.

One departure from the paper: the incompetent teacher's output leaves out the forgotten classes
(their logits are masked before the softmax), as a model retrained without them would. A random
network's prediction is nearly one class for every input, so with seed-dependent odds of about
1/K that class is the forgotten one, and the student then learns to keep predicting it
(``mask_forgotten: false`` restores the paper's teacher). The paper trains one
epoch with Adam (lr 1e-4, batch 256) on the forget set plus 30% of the retain set; at MNIST-MLP
scale that is a handful of steps and forgets nothing, so the defaults here are Adam lr 0.01,
batch 64, 5 epochs on the forget set plus 30% of the retain set, then more epochs while a
forget sample of the training or val split is still recognised, up to ``max_steps`` optimiser
steps in all (on small data 5 epochs are a few dozen steps).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from hyperforget.core.config import setting
from hyperforget.core.seeding import seeded
from hyperforget.unlearning import common
from hyperforget.unlearning.api import ForgetRequest, Unlearned


@dataclass(frozen=True, kw_only=True)
class BadTeacherConfig(common.EpochsConfig):
    retain_fraction: float = setting(gt=0.0, le=1.0)  # of the retain set, beside the forget set
    temperature: float = setting(gt=0.0)
    mask_forgotten: bool = setting()  # false: the paper's random teacher


# a masked class's logit: its softmax probability is 0 and KL stays finite (-inf would give NaN)
_MASKED = -1.0e4


def forget(request: ForgetRequest, config: BadTeacherConfig) -> Unlearned:
    forget_set, (retain_images, _) = common.forget_retain(request)
    forget_images = forget_set[0]
    forget = (forget_set, common.forget_val(request))
    rng = common.generator(request)
    competent = common.frozen(common.network(request))
    with seeded(request.seed):  # a seeded random init, global RNG untouched
        incompetent = common.frozen(request.build().to(request.original.device))
    subset = torch.randperm(len(retain_images), generator=rng)
    subset = subset[: max(1, round(config.retain_fraction * len(retain_images)))]
    images = torch.cat([forget_images, retain_images[subset]])
    is_forget = torch.arange(len(images), device=images.device) < len(forget_images)
    student = common.network(request).train()
    optimiser = common.optimizer(student.parameters(), config)
    temperature = config.temperature
    forgotten = torch.zeros(request.num_classes, dtype=torch.bool, device=images.device)
    if config.mask_forgotten:
        forgotten[list(request.forget_classes)] = True

    def batch_loss(idx: Tensor) -> Tensor:
        x = images[idx]
        with torch.no_grad():
            noise = incompetent(x).masked_fill(forgotten, _MASKED)
            teacher_logits = torch.where(is_forget[idx].unsqueeze(1), noise, competent(x))
        return common.distill_kl(student(x), teacher_logits, temperature)

    return common.train_until_forgotten(
        student, optimiser, batch_loss, len(images), rng, forget, config, request
    )
