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

from typing import Any

import torch.nn.functional as F

from hyperforget.unlearning import ForgetRequest, Unlearned, common


def forget(request: ForgetRequest, config: dict[str, Any]) -> Unlearned:
    forget_set, (images, labels) = common.forget_retain(request)
    module = common.network(request).train()
    optimiser = common.optimizer(module.parameters(), config)
    rng = common.generator(request)
    epochs, max_epochs = common.budget(config, "epochs", "max_epochs", lowest=1)
    taken = 0
    while taken < max_epochs:
        if taken >= epochs and common.forgotten(module, forget_set, config.get("stop_accuracy")):
            break
        for idx in common.minibatches(len(labels), int(config["batch_size"]), 1, rng):
            common.step(optimiser, F.cross_entropy(module(images[idx]), labels[idx]))
        taken += 1
    return common.result(module, epochs=taken)
