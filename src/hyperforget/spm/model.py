"""The semi-parametric model (SPM; Zheng, Tai & Yeh, arXiv 2603.22870): a prediction is
attention over a memory of training samples, so deleting samples from the memory unlearns them
with no parameter change.

``SemiParametric`` holds an encoder ``f`` shared by queries and memory samples, and two linear
projections. The projected query attends (scaled dot product) over the projected memory
entries, whose values are the entries' one-hot labels; the output is the log of that mixture,
exactly ``-inf`` for a class with no entry in the memory. ``Classifier`` is the same encoder
with a linear head, the plain model SPM is compared with.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


def build_encoder(
    input_shape: Sequence[int], hidden: Sequence[int], embed_dim: int, kind: str = "mlp"
) -> nn.Module:
    """``f``: images ``[B, C, H, W]`` -> embeddings ``[B, embed_dim]``.

    ``mlp`` (MNIST-sized inputs): flatten, ``hidden`` ReLU layers, linear. ``cnn``: two 3x3
    conv + max-pool blocks (32, 64 channels), then the MLP. ``resnet18``: torchvision's
    ResNet-18 (random init, nothing downloaded) with a ``embed_dim`` output, for CIFAR-10.
    """
    channels, height, width = input_shape
    if kind == "resnet18":
        from torchvision.models import resnet18

        net = resnet18(num_classes=embed_dim)
        if channels != 3:
            net.conv1 = nn.Conv2d(channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        return net
    layers: list[nn.Module] = []
    if kind == "cnn":
        layers += [
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        ]  # fmt: skip
        channels, height, width = 64, height // 4, width // 4
    elif kind != "mlp":
        raise ValueError(f"Unknown SPM encoder {kind!r}: use mlp, cnn or resnet18.")
    layers.append(nn.Flatten())
    features = channels * height * width
    for h in hidden:
        layers += [nn.Linear(features, h), nn.ReLU()]
        features = h
    layers.append(nn.Linear(features, embed_dim))
    return nn.Sequential(*layers)


class SemiParametric(nn.Module):
    """The SPM: an encoder ``f`` and the query and key projections of its attention."""

    def __init__(
        self,
        input_shape: Sequence[int],
        hidden: Sequence[int],
        embed_dim: int,
        encoder: str = "mlp",
    ) -> None:
        super().__init__()
        self.encoder = build_encoder(input_shape, hidden, embed_dim, encoder)
        self.query = nn.Linear(embed_dim, embed_dim)
        self.key = nn.Linear(embed_dim, embed_dim)

    def forward(
        self,
        images: Tensor,
        keys: Tensor,
        labels: Tensor,
        num_classes: int,
        present: Tensor | None = None,
    ) -> Tensor:
        """Log-probabilities ``[B, K]`` of queries attending over memory entries.

        ``keys``: the entries' embeddings ``f(x)``, ``[M, d]`` shared by every query or
        ``[B, M, d]`` per query (SPM-R's neighbours); ``labels``: their labels, ``[M]`` or
        ``[B, M]``; ``present``: which entries are real (``[M]``; None: all), so a batch of
        SPMs can share one shape of memory.
        """
        return self.attend(self.encoder(images), keys, labels, num_classes, present)

    def attend(
        self,
        embeddings: Tensor,
        keys: Tensor,
        labels: Tensor,
        num_classes: int,
        present: Tensor | None = None,
    ) -> Tensor:
        """``forward`` from the queries' embeddings ``f(images)``."""
        q = self.query(embeddings)
        k = self.key(keys)
        if k.dim() == 2:
            scores = q @ k.T / math.sqrt(q.shape[-1])
        else:
            scores = (k @ q.unsqueeze(-1)).squeeze(-1) / math.sqrt(q.shape[-1])
        if present is not None:
            scores = scores.masked_fill(~present, -torch.inf)
        weights = scores.softmax(-1)
        values = (labels.unsqueeze(-1) == torch.arange(num_classes, device=labels.device)).to(
            weights.dtype
        )  # one-hot rows (F.one_hot has no vmap rule)
        if values.dim() == 2:
            probs = weights @ values
        else:
            probs = (weights.unsqueeze(-1) * values).sum(-2)
        # exactly -inf for a class without entries, with a finite gradient everywhere
        safe = probs.clamp_min(torch.finfo(probs.dtype).tiny).log()
        return torch.where(probs > 0, safe, -torch.inf)


class Classifier(nn.Module):
    """The same encoder with a linear head: the plain classifier SPM is compared with."""

    def __init__(
        self,
        input_shape: Sequence[int],
        hidden: Sequence[int],
        embed_dim: int,
        classes: int,
        encoder: str = "mlp",
    ) -> None:
        super().__init__()
        self.encoder = build_encoder(input_shape, hidden, embed_dim, encoder)
        self.head = nn.Linear(embed_dim, classes)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.encoder(images))
