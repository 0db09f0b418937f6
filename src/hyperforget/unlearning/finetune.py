"""Fine-tuning (FT): keep training the original network on the retain set only.

The forgotten classes are never seen again, so their logits are pushed down by every retain
batch and the network drifts away from them (catastrophic forgetting). The usual baseline of the
unlearning literature (e.g. Golatkar et al. 2020, Kurmanji et al. 2023 "FT"), which trains for a
few epochs with a learning rate below the original training's. Defaults: SGD, lr 0.05 (half
the original's), momentum 0.9, weight decay 5e-4, batch 128, 15 epochs over D_r, then more
epochs (up to ``max_epochs``) while the forget-train accuracy is above ``stop_accuracy``
percent: how fast a class drifts away depends on the class and the data, so a fixed number of
epochs leaves some classes a few percent short.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from hyperforget.core.config import setting
from hyperforget.unlearning import ForgetRequest, Unlearned, common


@dataclass(frozen=True, kw_only=True)
class FinetuneConfig(common.OptimiserConfig):
    batch_size: int = setting(ge=1)
    epochs: int = setting(ge=1)  # always taken
    max_epochs: int | None = setting(ge=1)  # the most, while not forgotten (null: epochs)
    stop_accuracy: float | None = setting(**common.STOP_ACCURACY)

    def check(self, where: str) -> None:
        common.budget(self.epochs, self.max_epochs, ("epochs", "max_epochs"), where)


def forget(request: ForgetRequest, config: FinetuneConfig) -> Unlearned:
    forget_set, (images, labels) = common.forget_retain(request)
    module = common.network(request).train()
    optimiser = common.optimizer(module.parameters(), config)
    rng = common.generator(request)
    max_epochs = config.max_epochs or config.epochs
    taken = 0
    while taken < max_epochs:
        if taken >= config.epochs and common.forgotten(module, forget_set, config.stop_accuracy):
            break
        for idx in common.minibatches(len(labels), config.batch_size, 1, rng):
            common.step(optimiser, F.cross_entropy(module(images[idx]), labels[idx]))
        taken += 1
    return common.result(module, epochs=taken)
