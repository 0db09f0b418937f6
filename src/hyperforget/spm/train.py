"""The SPM's recipe and its training.

Training (``train_spm``) is episodic: each step draws a query batch and, from the other
training samples, a support set of ``support_per_class`` samples per class that plays the
memory; the query is never in its own support. Labels are permuted per batch, as in the paper;
this architecture has no label-specific parameters, so the permutation does not change the loss
(kept so the recipe matches the paper's when the value head is made learnable).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from hyperforget.core.config import Config, setting
from hyperforget.spm.memory import class_means, class_sums
from hyperforget.spm.model import Classifier, SemiParametric


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
