"""What the training-based unlearning methods share: the forget/retain split of the training data,
a network started from the original weights, seeded minibatches and the optimiser a config names."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hyperforget.core.config import Config, ConfigError, setting
from hyperforget.core.flat_params import flatten_module, load_flat_into
from hyperforget.unlearning.api import ForgetRequest, Unlearned

Split = tuple[Tensor, Tensor]


def forget_retain(request: ForgetRequest) -> tuple[Split, Split]:
    """The training split cut in two: the samples the scenario forgets (D_f) and the rest (D_r)."""
    images, labels = request.train
    forget = request.forget_mask(labels, "train")
    if not forget.any():
        raise ValueError(
            f"The forget set is empty: no training sample has a class in {request.forget_classes}."
        )
    return (images[forget], labels[forget]), (images[~forget], labels[~forget])


def network(request: ForgetRequest, params: Tensor | None = None) -> nn.Module:
    """A fresh network of the configured architecture holding ``params`` (default: the original)."""
    module = request.build().to(request.original.device)
    return load_flat_into(module, request.original if params is None else params)


def frozen(module: nn.Module) -> nn.Module:
    """``module`` in eval mode with gradients off: a teacher."""
    return module.eval().requires_grad_(False)


def minibatches(
    num_samples: int, batch_size: int, epochs: int, generator: torch.Generator
) -> Iterator[Tensor]:
    """Shuffled index batches over ``epochs`` passes (the last batch of a pass may be smaller)."""
    for _ in range(epochs):
        yield from torch.randperm(num_samples, generator=generator).split(batch_size)


def cycle(num_samples: int, batch_size: int, generator: torch.Generator) -> Iterator[Tensor]:
    """Shuffled index batches without end: for a set that is revisited while another is walked."""
    while True:
        yield from torch.randperm(num_samples, generator=generator).split(batch_size)


@dataclass(frozen=True, kw_only=True)
class OptimiserConfig(Config):
    """The optimiser a training-based method steps with: ``sgd`` (lr, momentum, weight decay)
    or ``adam`` (lr, weight decay)."""

    optimizer: str = setting(choices=("sgd", "adam"))
    lr: float = setting(gt=0.0)
    momentum: float = setting(0.0, ge=0.0, lt=1.0)
    weight_decay: float = setting(0.0, ge=0.0)


STOP_ACCURACY = {"ge": 0.0, "le": 100.0}  # percent, on the forget set's training samples


def optimizer(params, config: OptimiserConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def generator(request: ForgetRequest) -> torch.Generator:
    """The CPU generator every random choice of a method draws from, seeded by the request."""
    return torch.Generator().manual_seed(request.seed)


@torch.no_grad()
def accuracy(module: nn.Module, images: Tensor, labels: Tensor) -> float:
    """``module``'s accuracy on ``(images, labels)``, in percent: the forget-train accuracy a
    method's stopping rule may check (it sees the training split, never the test split)."""
    return 100.0 * float((module(images).argmax(1) == labels).float().mean())


def budget(minimum: int, maximum: int | None, names: tuple[str, str], where: str) -> None:
    """Refuse a budget whose most (``maximum``; null: no more than ``minimum``) is below the
    ``minimum`` always taken."""
    if maximum is not None and maximum < minimum:
        raise ConfigError(
            f"{where}.{names[1]} ({maximum}) must be at least {where}.{names[0]} ({minimum}), "
            "or null (no more than that)."
        )


def forget_val(request: ForgetRequest) -> Split:
    """The validation samples of the forgotten classes (possibly none): what a stopping rule may
    check besides the forget set it trains on, which it fits better than unseen samples."""
    images, labels = request.val
    forget = request.forget_mask(labels, "val")
    return images[forget], labels[forget]


def stop_bar(
    request: ForgetRequest, stop_accuracy: float | None, *, asks_for_more: bool
) -> float | None:
    """The forget-set accuracy a stopping rule asks for. A class request: ``stop_accuracy``
    (its classes should stop being recognised). A sample-wise request: networks retrained
    without the samples still classify most of them, as they classify unseen samples, so a rule
    that stops early (gradient ascent: ``asks_for_more`` false) stops once the forget set is
    recognised no better than the original recognises the val split (its accuracy there, fixed
    before the method starts), and a rule that takes more than the method's base budget while
    the forget set is recognised (``asks_for_more``) asks for nothing more (null): the base
    budget is the method's answer, as in the sample-wise evaluations of its paper."""
    if stop_accuracy is None or request.scenario is None or request.scenario.kind != "sample":
        return stop_accuracy
    if asks_for_more:
        return None
    return accuracy(frozen(network(request)), *request.val)


def forgotten(module: nn.Module, *forget: Split, stop_accuracy: float | None) -> bool:
    """Whether the accuracy on each of the ``forget`` splits (forget-train, and forget-val where
    given) is at most ``stop_accuracy`` percent (see :func:`stop_bar`); an empty split does not
    count (null: a stopping rule that never asks for more, so always True)."""
    if stop_accuracy is None:
        return True
    return all(
        accuracy(module, *split) <= float(stop_accuracy) for split in forget if len(split[1])
    )


@dataclass(frozen=True, kw_only=True)
class EpochsConfig(OptimiserConfig):
    """A method that trains in epochs until the class is forgotten: ``epochs`` always taken,
    then more while a forget sample (training or val split) is recognised above
    ``stop_accuracy`` percent, up to ``max_steps`` optimiser steps in all (null: no more)."""

    batch_size: int = setting(ge=1)
    epochs: int = setting(ge=1)
    max_steps: int | None = setting(ge=1)
    stop_accuracy: float | None = setting(**STOP_ACCURACY)


def train_until_forgotten(
    module: nn.Module,
    optimiser: torch.optim.Optimizer,
    batch_loss: Callable[[Tensor], Tensor],
    num_samples: int,
    rng: torch.Generator,
    forget: Sequence[Split],
    config: EpochsConfig,
    request: ForgetRequest,
) -> Unlearned:
    """Step on ``batch_loss`` of index batches over ``num_samples`` shuffled by ``rng``, epoch
    by epoch, as ``config`` says (see :class:`EpochsConfig`), the stop asking each ``forget``
    split (the forget set's training and val samples) at the ``request``'s :func:`stop_bar`
    of ``config.stop_accuracy`` (more epochs: none for a sample-wise request). The cap counts
    steps, not epochs: a class
    takes about as many steps to drift away on small data as on large, and an epoch of small
    data is a few steps."""
    steps_per_epoch = math.ceil(num_samples / config.batch_size)
    max_steps = max(config.max_steps or 0, config.epochs * steps_per_epoch)
    stop_accuracy = stop_bar(request, config.stop_accuracy, asks_for_more=True)
    taken = 0
    while (taken + 1) * steps_per_epoch <= max_steps:
        if taken >= config.epochs and forgotten(module, *forget, stop_accuracy=stop_accuracy):
            break
        for idx in minibatches(num_samples, config.batch_size, 1, rng):
            step(optimiser, batch_loss(idx))
        taken += 1
    return result(module, epochs=taken, steps=taken * steps_per_epoch)


def step(optimiser: torch.optim.Optimizer, loss: Tensor) -> None:
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()


def result(module: nn.Module, **info: Any) -> Unlearned:
    """The unlearned weights of ``module`` as one vector, with diagnostics."""
    return Unlearned(params=flatten_module(module), info=info)


def distill_kl(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0) -> Tensor:
    """KL(teacher || student) of temperature-softened outputs, times T^2, averaged over the batch
    (Hinton et al. 2015; the ``DistillKL`` of the SCRUB and bad-teacher code)."""
    return (
        F.kl_div(
            F.log_softmax(student_logits / temperature, dim=1),
            F.log_softmax(teacher_logits / temperature, dim=1),
            reduction="batchmean",
            log_target=True,
        )
        * temperature**2
    )
