"""Per-class loss and accuracy of one network or a batch of networks ``[N, P]``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyperforget.core.flat_params import batched_forward


@dataclass
class PerClass:
    """Per-class mean loss and accuracy, ``[N, K]`` each, plus overall ``[N]`` values."""

    loss: Tensor
    acc: Tensor
    total_loss: Tensor
    total_acc: Tensor


def cross_entropy_per_sample(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy ``[N, B]`` of N networks' ``logits [N, B, K]``; ``labels`` is ``[N, B]``
    (each network its own samples) or ``[B]`` (the same samples for all).

    Computed with classes along dim 1 of ``[N, K, B]``: the layout MLP.forward_stacked computes
    in, where log_softmax and gather run without copying (several times faster than flattening
    to ``[N * B, K]``), and whose backward is several times faster than F.cross_entropy's
    nll_loss2d.
    """
    targets = labels.expand(len(logits), -1).unsqueeze(1)
    return -torch.log_softmax(logits.transpose(1, 2), dim=1).gather(1, targets).squeeze(1)


def per_class_from_logits(logits: Tensor, labels: Tensor, num_classes: int) -> PerClass:
    """``logits [N, B, K]`` of N networks on the same B samples -> per-class statistics.

    A class without samples gets NaN loss and accuracy.
    """
    losses = cross_entropy_per_sample(logits, labels)  # [N, B]
    correct = (logits.transpose(1, 2).argmax(1) == labels).to(losses.dtype)
    onehot = F.one_hot(labels, num_classes).to(losses.dtype)  # [B, K]
    counts = onehot.sum(0)
    return PerClass(
        loss=losses @ onehot / counts,
        acc=correct @ onehot / counts,
        total_loss=losses.mean(1),
        total_acc=correct.mean(1),
    )


@torch.no_grad()
def evaluate_per_class(
    module: nn.Module,
    params: Tensor,
    images: Tensor,
    labels: Tensor,
    num_classes: int,
    chunk_size: int = 256,
) -> PerClass:
    """Per-class statistics of the networks ``params [N, P]`` (or one ``[P]``) on a split.

    Networks are evaluated ``chunk_size`` at a time to bound memory.
    """
    single = params.dim() == 1
    batch = params.unsqueeze(0) if single else params
    parts = [
        per_class_from_logits(batched_forward(module, chunk, images), labels, num_classes)
        for chunk in batch.split(chunk_size)
    ]
    stats = PerClass(
        *(torch.cat([getattr(p, f) for p in parts]) for f in PerClass.__dataclass_fields__)
    )
    if single:
        stats = PerClass(*(getattr(stats, f)[0] for f in PerClass.__dataclass_fields__))
    return stats
