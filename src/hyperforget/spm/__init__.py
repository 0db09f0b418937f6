"""Semi-parametric models (SPM; Zheng, Tai & Yeh, arXiv 2603.22870): a prediction is attention over
a memory of training samples, so deleting samples from the memory unlearns them with no parameter
change.

* ``SemiParametric``: an encoder ``f`` shared by queries and memory samples, and two linear
  projections. The projected query attends (scaled dot product) over the projected memory
  entries, whose values are the entries' one-hot labels; the output is the log of that mixture,
  exactly ``-inf`` for a class with no entry in the memory.
* ``Memory``: the embeddings ``f(x)`` of the training samples with their labels and sample ids,
  an ``alive`` mask, and per-class sums and counts of the alive embeddings. SPM-C attends over
  one mean embedding per class; SPM-R over the ``k`` alive entries nearest to the query.
* Deleting ids marks them dead and subtracts their embeddings from the class sums: the work is
  proportional to the deleted samples (plus an O(N) copy of the boolean mask, so the stored
  memory is never mutated); nothing is re-encoded or retrained.
* Training (``train_spm``): each step draws a query batch and, from the other training samples,
  a support set of ``support_per_class`` samples per class that plays the memory; the query is
  never in its own support. Labels are permuted per batch, as in the paper; this architecture
  has no label-specific parameters, so the permutation does not change the loss (kept so the
  recipe matches the paper's when the value head is made learnable).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from hyperforget.core.config import Config, setting


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

    def forward(self, images: Tensor, keys: Tensor, labels: Tensor, num_classes: int) -> Tensor:
        """Log-probabilities ``[B, K]`` of queries attending over memory entries.

        ``keys``: the entries' embeddings ``f(x)``, ``[M, d]`` shared by every query or
        ``[B, M, d]`` per query (SPM-R's neighbours); ``labels``: their labels, ``[M]`` or
        ``[B, M]``.
        """
        return self.attend(self.encoder(images), keys, labels, num_classes)

    def attend(self, embeddings: Tensor, keys: Tensor, labels: Tensor, num_classes: int) -> Tensor:
        q = self.query(embeddings)
        k = self.key(keys)
        if k.dim() == 2:
            scores = q @ k.T / math.sqrt(q.shape[-1])
        else:
            scores = (k @ q.unsqueeze(-1)).squeeze(-1) / math.sqrt(q.shape[-1])
        weights = scores.softmax(-1)
        values = F.one_hot(labels, num_classes).to(weights.dtype)
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


def class_sums(embeddings: Tensor, labels: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """Per-class sums ``[K, d]`` and counts ``[K]`` of embeddings."""
    sums = embeddings.new_zeros(num_classes, embeddings.shape[1])
    sums = sums.index_add(0, labels, embeddings)
    return sums, torch.bincount(labels, minlength=num_classes)


def class_means(sums: Tensor, counts: Tensor) -> tuple[Tensor, Tensor]:
    """One mean embedding per class that has samples, and those classes' labels."""
    present = counts > 0
    return sums[present] / counts[present].unsqueeze(1), present.nonzero().flatten()


@dataclass(frozen=True)
class Memory:
    embeddings: Tensor  # [N, d] f(x) of every sample ever stored
    labels: Tensor  # [N]
    sample_ids: Tensor  # [N] sorted training-sample ids
    alive: Tensor  # [N] bool
    class_sums: Tensor  # [K, d] sum of the alive embeddings per class
    class_counts: Tensor  # [K]

    @classmethod
    def build(cls, embeddings: Tensor, labels: Tensor, sample_ids: Tensor, num_classes: int):
        order = sample_ids.argsort()
        embeddings, labels, sample_ids = embeddings[order], labels[order], sample_ids[order]
        sums, counts = class_sums(embeddings, labels, num_classes)
        alive = torch.ones(len(labels), dtype=torch.bool, device=labels.device)
        return cls(embeddings, labels, sample_ids, alive, sums, counts)

    @property
    def num_classes(self) -> int:
        return self.class_sums.shape[0]

    def class_entries(self) -> tuple[Tensor, Tensor]:
        """SPM-C's memory: one mean embedding per class that still has samples, and its label."""
        return class_means(self.class_sums, self.class_counts)

    def positions(self, sample_ids: Tensor) -> Tensor:
        """Where ``sample_ids`` sit in the memory; unknown ids are an error."""
        sample_ids = sample_ids.to(self.sample_ids.device)
        pos = torch.searchsorted(self.sample_ids, sample_ids).clamp(max=len(self.sample_ids) - 1)
        unknown = self.sample_ids[pos] != sample_ids
        if unknown.any():
            raise ValueError(
                f"Sample ids {sample_ids[unknown][:10].tolist()} are not in the SPM memory "
                f"(ids {int(self.sample_ids[0])}..{int(self.sample_ids[-1])}): delete ids of "
                "training samples the memory was built from."
            )
        return pos

    def delete(self, sample_ids: Tensor) -> Memory:
        """A new memory without ``sample_ids``; this one is left unchanged."""
        pos = self.positions(sample_ids).unique()
        pos = pos[self.alive[pos]]
        if int(self.alive.sum()) - len(pos) == 0:
            raise ValueError(
                "Deleting these samples would empty the SPM memory: a memory needs at least one "
                "sample to predict from. Delete fewer samples."
            )
        return self._moved(pos, sign=-1.0, alive=False)

    def restore(self, sample_ids: Tensor) -> Memory:
        """A new memory with deleted ``sample_ids`` stored again (undoes ``delete``)."""
        pos = self.positions(sample_ids).unique()
        return self._moved(pos[~self.alive[pos]], sign=1.0, alive=True)

    def delete_classes(self, classes: Sequence[int]) -> Memory:
        """Class-wise deletion: every sample of ``classes``."""
        bad = [c for c in classes if not 0 <= c < self.num_classes]
        if bad:
            raise ValueError(f"Classes {bad} are not in the memory (0..{self.num_classes - 1}).")
        chosen = torch.isin(self.labels, torch.tensor(list(classes), device=self.labels.device))
        return self.delete(self.sample_ids[chosen & self.alive])

    def _moved(self, pos: Tensor, sign: float, alive: bool) -> Memory:
        mask = self.alive.clone()
        mask[pos] = alive
        labels = self.labels[pos]
        sums = self.class_sums.index_add(0, labels, self.embeddings[pos], alpha=sign)
        counts = self.class_counts.index_add(0, labels, torch.full_like(labels, int(sign)))
        return replace(self, alive=mask, class_sums=sums, class_counts=counts)


@torch.no_grad()
def predict(
    model: SemiParametric,
    memory: Memory,
    images: Tensor,
    mode: str,
    neighbours: int = 32,
    batch_size: int = 1024,
) -> Tensor:
    """Log-probabilities ``[B, K]`` of SPM-C (``mode="c"``) or SPM-R (``"r"``) over ``memory``."""
    if mode == "c":
        keys, labels = memory.class_entries()
    elif mode == "r":
        keys, labels = memory.embeddings[memory.alive], memory.labels[memory.alive]
    else:
        raise ValueError(f"Unknown SPM memory mode {mode!r}: use c (class means) or r (k-NN).")
    model.eval()
    outputs = []
    for batch in images.split(batch_size):
        embeddings = model.encoder(batch)
        if mode == "c":
            outputs.append(model.attend(embeddings, keys, labels, memory.num_classes))
        else:
            k = min(neighbours, len(labels))
            idx = torch.cdist(embeddings, keys).topk(k, largest=False).indices
            outputs.append(model.attend(embeddings, keys[idx], labels[idx], memory.num_classes))
    return torch.cat(outputs)


@torch.no_grad()
def build_memory(
    model: SemiParametric, images: Tensor, labels: Tensor, sample_ids: Tensor, num_classes: int
) -> Memory:
    model.eval()
    embeddings = torch.cat([model.encoder(b) for b in images.split(1024)])
    return Memory.build(embeddings, labels, sample_ids, num_classes)


def support_indices(
    query: Tensor, labels: Tensor, per_class: int, generator: torch.Generator
) -> Tensor:
    """A support set of ``per_class`` samples of each class, drawn from outside ``query``."""
    allowed = torch.ones(len(labels), dtype=torch.bool)
    allowed[query.cpu()] = False
    labels = labels.cpu()
    chosen = []
    for k in labels.unique():
        candidates = (allowed & (labels == k)).nonzero().flatten()
        pick = torch.randperm(len(candidates), generator=generator)[:per_class]
        chosen.append(candidates[pick])
    return torch.cat(chosen)


@dataclass(frozen=True, kw_only=True)
class SPMConfig(Config):
    """The SPM recipe (the model and training keys of ``semi_parametric``)."""

    encoder: str = setting(choices=("mlp", "cnn", "resnet18"))
    hidden: tuple[int, ...] = setting(ge=1)
    embed_dim: int = setting(ge=1)
    mode: str = setting(choices=("c", "r"))  # c: class means (SPM-C); r: k nearest (SPM-R)
    epochs: int = setting(ge=1)
    batch_size: int = setting(ge=1)
    support_per_class: int = setting(ge=1)
    lr: float = setting(gt=0.0)
    neighbours: int = setting(ge=1)
    min_steps: int = setting(ge=0)  # at least this many optimiser steps, however few epochs

    @classmethod
    def of(cls, semi_parametric: Mapping[str, Any]) -> SPMConfig:
        """The recipe's keys of the ``semi_parametric`` block (the rest are the stage's)."""
        names = {f.name for f in fields(cls)}
        block = {k: v for k, v in semi_parametric.items() if k in names}
        return cls.from_params(block, "semi_parametric")

    def epochs_for(self, num_samples: int) -> int:
        """``epochs``, raised so that training takes at least ``min_steps`` steps: on small
        data a few epochs are too few steps to train."""
        per_epoch = max(1, math.ceil(num_samples / self.batch_size))
        return max(int(self.epochs), math.ceil(int(self.min_steps) / per_epoch))


def train_spm(
    model: SemiParametric,
    images: Tensor,
    labels: Tensor,
    num_classes: int,
    config: SPMConfig,
    generator: torch.Generator,
    progress: str | None = None,
) -> SemiParametric:
    """Episodic training: queries attend over a support set drawn from the other samples."""
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    model.train()
    steps = range(config.epochs_for(len(labels)))
    for _ in tqdm(steps, desc=progress, disable=progress is None):
        for query in torch.randperm(len(labels), generator=generator).split(config.batch_size):
            support = support_indices(query, labels, config.support_per_class, generator)
            permutation = torch.randperm(num_classes, generator=generator).to(labels.device)
            query_labels, support_labels = permutation[labels[query]], permutation[labels[support]]
            support_embeddings = model.encoder(images[support])
            if config.mode == "c":
                keys, key_labels = class_means(
                    *class_sums(support_embeddings, support_labels, num_classes)
                )
            else:
                keys, key_labels = support_embeddings, support_labels
            log_probs = model(images[query], keys, key_labels, num_classes)
            loss = F.nll_loss(log_probs.clamp(min=-100), query_labels)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return model.eval()


def train_classifier(
    model: Classifier,
    images: Tensor,
    labels: Tensor,
    config: SPMConfig,
    generator: torch.Generator,
) -> Classifier:
    """The same encoder as a plain softmax classifier, same optimiser, epochs and batches."""
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    model.train()
    for _ in range(config.epochs_for(len(labels))):
        for idx in torch.randperm(len(labels), generator=generator).split(config.batch_size):
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return model.eval()
