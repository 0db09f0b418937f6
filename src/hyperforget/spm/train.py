"""The SPM's recipe and its training.

Training (``train_spm``) is episodic: each step draws a query batch and, from the other
training samples, a support set of ``support_per_class`` samples per class that plays the
memory; the query is never in its own support. Labels are permuted per batch, as in the paper;
this architecture has no label-specific parameters, so the permutation does not change the loss
(kept so the recipe matches the paper's when the value head is made learnable).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from tqdm.auto import tqdm

from hyperforget.core.config import Config, setting
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


def episode_log_probs(
    model: SemiParametric,
    query_images: Tensor,
    support_images: Tensor,
    support_labels: Tensor,
    num_classes: int,
    mode: str,
) -> Tensor:
    """The queries' log-probabilities over a support set that plays the memory: one mean
    embedding per class with samples (SPM-C, ``mode="c"``) or every support sample (SPM-R).
    A label of -1 marks a padding entry (ignored), so SPMs trained together share one shape."""
    embeddings = model.encoder(support_images)
    if mode == "c":
        classes = torch.arange(num_classes, device=support_labels.device)
        one_hot = (support_labels.unsqueeze(-1) == classes).to(embeddings.dtype)
        counts = one_hot.sum(0)
        keys = (one_hot.T @ embeddings) / counts.clamp(min=1).unsqueeze(1)
        key_labels = torch.arange(num_classes, device=support_labels.device)
        return model(query_images, keys, key_labels, num_classes, counts > 0)
    present = support_labels >= 0
    return model(query_images, embeddings, support_labels.clamp(min=0), num_classes, present)


@dataclass(frozen=True)
class Episode:
    """One step's draw for one SPM: query ids, support ids and a permutation of the labels."""

    query: Tensor
    support: Tensor
    permutation: Tensor


def draw_episode(
    query: Tensor, labels: Tensor, config: SPMConfig, num_classes: int, generator: torch.Generator
) -> Episode:
    """The support set of ``query`` and the batch's label permutation, drawn from ``generator``."""
    support = support_indices(query, labels, config.support_per_class, generator)
    permutation = torch.randperm(num_classes, generator=generator).to(labels.device)
    return Episode(query, support, permutation)


class _EpisodeLoss(nn.Module):
    """The episodic loss of one SPM, as a module so ``functional_call`` can swap its weights."""

    def __init__(self, spm: SemiParametric, num_classes: int, mode: str) -> None:
        super().__init__()
        self.spm, self.num_classes, self.mode = spm, num_classes, mode

    def forward(
        self, query_images: Tensor, support_images: Tensor, labels: Tensor, support_labels: Tensor
    ) -> Tensor:
        log_probs = episode_log_probs(
            self.spm, query_images, support_images, support_labels, self.num_classes, self.mode
        )
        return -log_probs.clamp(min=-100).gather(1, labels.unsqueeze(1)).mean()


def _padded(rows: list[Tensor], fill: int) -> Tensor:
    """``rows`` stacked, the shorter ones padded with ``fill``."""
    width = max(len(r) for r in rows)
    return torch.stack([F.pad(r, (0, width - len(r)), value=fill) for r in rows])


def train_spm_batch(
    models: Sequence[SemiParametric],
    images: Tensor,
    labels: Tensor,
    num_classes: int,
    config: SPMConfig,
    generators: Sequence[torch.Generator],
    progress: str | None = None,
) -> list[SemiParametric]:
    """Episodic training of SPMs on the same data, each with its own generator: queries attend
    over a support set drawn from the other samples.

    Model j sees exactly the draws ``train_spm`` would give it alone; the models are stacked and
    stepped together (``torch.vmap`` over their weights; Adam is elementwise, so stepping the
    stack equals stepping each), which is several times cheaper than one after another. A
    ResNet encoder (batch norm) is trained one model at a time."""
    together = config.encoder != "resnet18"  # batch norm's running statistics do not vmap
    if not together and len(models) > 1:
        return [
            train_spm_batch([m], images, labels, num_classes, config, [g], progress)[0]
            for m, g in zip(models, generators, strict=True)
        ]
    loss_module = _EpisodeLoss(models[0], num_classes, config.mode)
    stacked = {
        f"spm.{name}": torch.stack([m.get_parameter(name).detach() for m in models])
        for name, _ in models[0].named_parameters()
    }
    for weights in stacked.values():
        weights.requires_grad_()
    optimiser = torch.optim.Adam(stacked.values(), lr=config.lr)

    def batched_loss(weights: dict[str, Tensor], *batch: Tensor) -> Tensor:
        if together:
            return torch.vmap(lambda w, *b: functional_call(loss_module, w, b))(weights, *batch)
        alone = {name: w[0] for name, w in weights.items()}
        return functional_call(loss_module, alone, tuple(b[0] for b in batch)).unsqueeze(0)

    loss_module.train()
    for _ in tqdm(range(config.epochs_for(len(labels))), desc=progress, disable=progress is None):
        orders = [torch.randperm(len(labels), generator=g) for g in generators]
        for step_queries in zip(*(order.split(config.batch_size) for order in orders), strict=True):
            episodes = [
                draw_episode(q, labels, config, num_classes, g)
                for q, g in zip(step_queries, generators, strict=True)
            ]
            query = torch.stack([e.query for e in episodes]).to(labels.device)
            support = _padded([e.support for e in episodes], -1).to(labels.device)
            perms = torch.stack([e.permutation for e in episodes])
            query_labels = perms.gather(1, labels[query])
            support_labels = torch.where(
                support >= 0, perms.gather(1, labels[support.clamp(min=0)]), -1
            )
            losses = batched_loss(
                stacked, images[query], images[support.clamp(min=0)], query_labels, support_labels
            )
            optimiser.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimiser.step()
    with torch.no_grad():
        for j, model in enumerate(models):
            for name, param in model.named_parameters():
                param.copy_(stacked[f"spm.{name}"][j])
    return [m.eval() for m in models]


def train_spm(
    model: SemiParametric,
    images: Tensor,
    labels: Tensor,
    num_classes: int,
    config: SPMConfig,
    generator: torch.Generator,
    progress: str | None = None,
) -> SemiParametric:
    """Episodic training of one SPM (``train_spm_batch`` of one)."""
    return train_spm_batch([model], images, labels, num_classes, config, [generator], progress)[0]


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
