"""Training many target networks at once.

R networks of the same architecture are trained in one process as stacked parameters
``[R, ...]``: ``torch.vmap`` over ``functional_call`` runs them on their own minibatches
``[R, B, ...]`` and one backward pass of the summed losses gives every network its own gradient
(the networks share no parameters). ``torch.optim.SGD`` is elementwise, so stepping the stacked
tensors equals stepping each network alone. ``train_single`` is the plain one-model loop the
batched trainer is tested and benchmarked against.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call
from tqdm.auto import tqdm

from hyperforget.core.config import Config, setting
from hyperforget.core.flat_params import ParamLayout, load_flat_into
from hyperforget.core.per_class import cross_entropy_per_sample

INPUT_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


@dataclass(frozen=True, kw_only=True)
class SGDConfig(Config):
    """The SGD recipe of the zoo and the reference models (``model_zoo.training``); the
    learning rate follows a cosine schedule to zero over the run.

    A run takes ``epochs`` passes over its data and at least ``min_steps`` optimiser steps.
    ``input_dtype`` is the precision the training images are multiplied in: ``"bfloat16"``
    about halves the cost of the first layer's matmuls, the bulk of the zoo's arithmetic (see
    ``targets.MLP``); weights, gradients and the optimiser stay float32 either way.
    """

    lr: float = setting(gt=0.0)
    momentum: float = setting(ge=0.0, lt=1.0)
    nesterov: bool = setting()
    weight_decay: float = setting(ge=0.0)
    batch_size: int = setting(ge=1)
    epochs: int = setting(ge=1)
    min_steps: int = setting(ge=0)
    input_dtype: str = setting("float32", choices=tuple(INPUT_DTYPES))

    def inputs(self, images: Tensor) -> Tensor:
        """The training images in the precision they are multiplied in."""
        return images.to(INPUT_DTYPES[self.input_dtype])

    def optimizer(self, params, fused: bool | None = None) -> torch.optim.SGD:
        """SGD with this recipe. ``fused=True`` (one kernel per tensor) is several times faster
        than the default on the stacked parameters of a batch of networks."""
        return torch.optim.SGD(
            params,
            lr=self.lr,
            momentum=self.momentum,
            nesterov=self.nesterov,
            weight_decay=self.weight_decay,
            fused=fused,
        )


@dataclass(frozen=True)
class AscentConfig:
    """Forgetting objective: descent on retain batches, bounded ascent on forget batches.

    ``loss = mean CE(retain) - weight * mean min(CE(forget sample), cap)``: a forget sample whose
    loss passed ``cap`` stops contributing, so trajectories settle near a forgotten level
    instead of diverging.
    """

    weight: float
    cap: float


@dataclass(frozen=True)
class FromLearn:
    """The recipe of a regime that starts from learn finals: its SGD, epochs, an optional
    bounded ascent on the class and whether the last layer is drawn anew first."""

    sgd: SGDConfig
    epochs: float
    ascent: AscentConfig | None = None
    fresh_head: bool = False


@dataclass(frozen=True, kw_only=True)
class ForgetTraining(Config):
    """A zoo regime that starts from trained runs (``model_zoo.forget_training``,
    ``model_zoo.refit_training``): the zoo's SGD recipe with this ``lr`` (null: the zoo's own,
    as chosen for the run), ``epochs`` and ``min_steps`` on the data without the class; with
    ``fresh_head`` the last layer is drawn anew first (the network is retrained on its own
    features), with ``ascent_weight > 0`` a bounded ascent on the class is added."""

    lr: float | None = setting(gt=0.0)
    epochs: int = setting(ge=1)
    min_steps: int = setting(ge=0)
    fresh_head: bool = setting(False)
    ascent_weight: float = setting(ge=0.0)
    ascent_cap: float = setting(gt=0.0)

    def recipe(self, zoo: SGDConfig) -> FromLearn:
        """The regime's recipe: the zoo's SGD with this block's lr, epochs and min_steps."""
        lr = zoo.lr if self.lr is None else self.lr
        sgd = replace(zoo, lr=lr, epochs=self.epochs, min_steps=self.min_steps)
        ascent = (
            AscentConfig(weight=self.ascent_weight, cap=self.ascent_cap)
            if self.ascent_weight > 0
            else None
        )
        return FromLearn(sgd, self.epochs, ascent, self.fresh_head)


def batch_schedule(
    index_sets: Sequence[Tensor], seeds: Sequence[int], batch_size: int, steps: int
) -> Tensor:
    """Minibatch indices ``[R, steps, B]``: run r walks seeded permutations of its own index set.

    Like a shuffled ``DataLoader`` with ``drop_last=True``: each epoch is a fresh permutation and
    its incomplete tail is skipped.
    """
    schedules = []
    for indices, seed in zip(index_sets, seeds, strict=True):
        if len(indices) < batch_size:
            raise ValueError(
                f"A run has {len(indices)} training samples, fewer than the batch size "
                f"{batch_size}; lower the batch size or use more data."
            )
        generator = torch.Generator().manual_seed(int(seed))
        per_epoch = len(indices) // batch_size
        epochs = -(-steps // per_epoch)
        order = torch.cat(
            [
                indices[torch.randperm(len(indices), generator=generator)][: per_epoch * batch_size]
                for _ in range(epochs)
            ]
        )
        schedules.append(order[: steps * batch_size].view(steps, batch_size))
    return torch.stack(schedules)


def _stack_params(layout: ParamLayout, flat: Tensor) -> dict[str, Tensor]:
    return {n: t.clone().requires_grad_(True) for n, t in layout.unflatten(flat).items()}


def _batched_logits(module: nn.Module, params: dict[str, Tensor], inputs: Tensor) -> Tensor:
    """Logits ``[R, B, K]``: the module's own stacked forward when it has one, else vmap."""
    if hasattr(module, "forward_stacked"):
        return module.forward_stacked(params, inputs)
    return torch.vmap(lambda p, x: functional_call(module, p, (x,)))(params, inputs)


def _minibatch_losses(
    module: nn.Module,
    params: dict[str, Tensor],
    images: Tensor,
    labels: Tensor,
    config: SGDConfig,
) -> Callable[[Tensor, str], Tensor]:
    """``sample_losses(idx, role)``: cross-entropy ``[R, B]`` of every run on its own minibatch
    ``idx [R, B]``, its inputs gathered into one reused buffer per ``role``."""
    flat_images = config.inputs(images).reshape(len(images), -1)
    buffers: dict[str, Tensor] = {}

    def sample_losses(idx: Tensor, role: str) -> Tensor:
        """Cross-entropy ``[R, B]`` of every run on its own minibatch ``idx [R, B]``."""
        # Gathering into a reused buffer with index_select is several times faster than
        # advanced indexing, which allocates (and page-faults) a fresh [R, B, ...] every step.
        if role not in buffers:
            buffers[role] = flat_images.new_empty(idx.numel(), flat_images.shape[1])
        gathered = torch.index_select(flat_images, 0, idx.flatten(), out=buffers[role])
        inputs = gathered.view(*idx.shape, *images.shape[1:])
        return cross_entropy_per_sample(_batched_logits(module, params, inputs), labels[idx])

    return sample_losses


def train_batched(  # noqa: PLR0913 (the batched trainer's whole recipe)
    module: nn.Module,
    init_params: Tensor,
    images: Tensor,
    labels: Tensor,
    batches: Tensor,
    config: SGDConfig,
    checkpoint_steps: Sequence[int],
    forget_batches: Tensor | None = None,
    ascent: AscentConfig | None = None,
    progress: str | None = None,
) -> Tensor:
    """Train R networks from ``init_params [R, P]`` on their own minibatches ``batches [R, T, B]``.

    ``images``/``labels`` are the whole training split (indexed by ``batches``), on the device the
    parameters should train on. With ``forget_batches [R, T, B']`` the objective is the bounded
    ascent of ``AscentConfig``. Returns the parameters at ``checkpoint_steps`` (0 = initial,
    ``T`` = final) as ``[R, C, P]``.
    """
    if (forget_batches is None) != (ascent is None):
        raise ValueError("train_batched needs forget_batches and ascent together, or neither.")
    layout = ParamLayout.from_module(module)
    layout.check(init_params, what="initial parameters")
    n_runs, steps, _ = batches.shape
    if any(not 0 <= s <= steps for s in checkpoint_steps):
        raise ValueError(f"Checkpoint steps {list(checkpoint_steps)} must lie in 0..{steps}.")
    device = images.device
    params = _stack_params(layout, init_params.to(device))
    optimizer = config.optimizer(params.values(), fused=True)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(steps, 1))
    batches = batches.to(device)
    forget_batches = forget_batches.to(device) if forget_batches is not None else None
    wanted = set(checkpoint_steps)
    saved: dict[int, Tensor] = {}

    def snapshot(step: int) -> None:
        if step in wanted:
            saved[step] = layout.flatten({n: p.detach() for n, p in params.items()}).cpu()

    sample_losses = _minibatch_losses(module, params, images, labels, config)
    snapshot(0)
    for step in tqdm(range(steps), desc=progress, disable=progress is None, mininterval=2):
        per_run = sample_losses(batches[:, step], "retain").mean(1)
        if forget_batches is not None:
            forget_loss = sample_losses(forget_batches[:, step], "forget").clamp(max=ascent.cap)
            per_run = per_run - ascent.weight * forget_loss.mean(1)
        optimizer.zero_grad(set_to_none=True)
        per_run.sum().backward()
        optimizer.step()
        schedule.step()
        snapshot(step + 1)
    return torch.stack([saved[s] for s in checkpoint_steps], dim=1)


def train_single(
    module: nn.Module,
    init_params: Tensor,
    images: Tensor,
    labels: Tensor,
    batches: Tensor,
    config: SGDConfig,
    checkpoint_steps: Sequence[int],
) -> Tensor:
    """The plain loop: one ``nn.Module``, ``batches [T, B]``; returns ``[C, P]`` checkpoints."""
    layout = ParamLayout.from_module(module)
    load_flat_into(module, init_params)
    images = config.inputs(images)
    optimizer = config.optimizer(module.parameters())
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(len(batches), 1))
    saved = {}

    def snapshot(step: int) -> None:
        if step in checkpoint_steps:
            saved[step] = layout.flatten({n: p.detach() for n, p in module.named_parameters()})

    snapshot(0)
    for step, idx in enumerate(batches):
        loss = F.cross_entropy(module(images[idx]), labels[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        snapshot(step + 1)
    return torch.stack([saved[s].clone().cpu() for s in checkpoint_steps])


def zoo_sgd(model_zoo: dict[str, Any], input_dtype: str | None = None) -> SGDConfig:
    """The zoo runs' recipe: ``model_zoo.training`` at the zoo's input precision (or
    ``input_dtype``)."""
    precision = input_dtype or model_zoo["zoo_input_dtype"]
    training = SGDConfig.from_params(model_zoo["training"], "model_zoo.training")
    return replace(training, input_dtype=precision)
