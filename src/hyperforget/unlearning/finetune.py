"""Fine-tuning (FT): keep training the original network on the retain set only.

The forgotten classes are never seen again, so their logits are pushed down by every retain
batch and the network drifts away from them (catastrophic forgetting). The usual baseline of the
unlearning literature (e.g. Golatkar et al. 2020, Kurmanji et al. 2023 "FT"), which trains for a
few epochs with a learning rate below the original training's. Defaults, the shortest schedule
that forgets every class of the embedded MNIST on the default MLP: SGD, lr 0.05 (half the
original's), momentum 0.9, weight decay 5e-4, batch 128, 15 epochs over D_r.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F

from hyperforget.unlearning import ForgetRequest, Unlearned, common


def forget(request: ForgetRequest, config: dict[str, Any]) -> Unlearned:
    _, (images, labels) = common.forget_retain(request)
    module = common.network(request).train()
    optimiser = common.optimizer(module.parameters(), config)
    rng = common.generator(request)
    for idx in common.minibatches(
        len(labels), int(config["batch_size"]), int(config["epochs"]), rng
    ):
        common.step(optimiser, F.cross_entropy(module(images[idx]), labels[idx]))
    return common.result(module)
