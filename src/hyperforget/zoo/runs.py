"""Training a regime's runs into checkpoints ``[R, C, P]``: all runs batched in this process
(``training.train_batched``), or cut into shards trained as tasks of a ``MapTasks`` (e.g. on a
Dask cluster) that give the same weights."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from hyperforget.core.compute import MapTasks
from hyperforget.zoo.plan import RunSpec, checkpoint_steps, data_indices, run_steps, steps_for
from hyperforget.zoo.training import AscentConfig, SGDConfig, batch_schedule, train_batched


@dataclass
class TrainedRuns:
    """Checkpoints ``[R, C, P]`` of runs, the steps they were taken at and samples per run."""

    specs: list[RunSpec]
    params: Tensor
    steps: list[int]
    samples: list[int]
    batch_size: int


@dataclass(frozen=True)
class Shard:
    """Some runs of one regime, trained batched in one task: their specs and starting weights."""

    specs: list[RunSpec]
    init: Tensor  # [R, P], on the CPU


def train_shard(  # noqa: PLR0913 (train_runs' recipe, plus where the data is sent)
    shard: Shard,
    *,
    build: Callable[[], nn.Module],
    images: Tensor,
    labels: Tensor,
    device: str,
    recipe: dict,
) -> TrainedRuns:
    """One task of a sharded regime (e.g. on a Dask worker): ``shard``'s runs trained batched on
    ``device``, their checkpoints ``[R, C, P]`` returned on the CPU."""
    from hyperforget.core.devices import resolve_device

    dev = resolve_device(device)
    images, labels = images.to(dev), labels.to(dev)
    runs = train_runs(build(), shard.specs, images, labels, init=shard.init.to(dev), **recipe)
    return replace(runs, params=runs.params.cpu())


def train_regime(  # noqa: PLR0913 (train_runs' arguments, and where its shards run)
    build: Callable[[], nn.Module],
    specs: Sequence[RunSpec],
    images: Tensor,
    labels: Tensor,
    init: Tensor,
    recipe: dict,
    progress: str,
    map_tasks: MapTasks | None = None,
    shards: int | None = None,
) -> TrainedRuns:
    """``train_runs`` of a regime, whole in this process (``shards`` None) or cut into
    ``shards`` batches of runs trained as tasks of ``map_tasks`` (e.g. on a Dask cluster).
    Every shard takes the regime's step count, and a run's batches depend only on its own seed,
    so the shards give the runs' weights as the whole batch does."""
    if shards is None or map_tasks is None or not specs:
        return train_runs(build(), specs, images, labels, init=init, progress=progress, **recipe)
    steps = run_steps(specs, labels, recipe["sgd"], recipe["epochs"], recipe["fraction"])
    size = math.ceil(len(specs) / shards)
    pieces = [
        Shard(list(specs[i : i + size]), init[i : i + size].cpu())
        for i in range(0, len(specs), size)
    ]
    parts = map_tasks(
        train_shard,
        pieces,
        progress,
        build=build,
        images=images.cpu(),
        labels=labels.cpu(),
        device=str(images.device),
        recipe={**recipe, "steps": steps},
    )
    return TrainedRuns(
        [spec for part in parts for spec in part.specs],
        torch.cat([part.params for part in parts]).to(images.device),
        parts[0].steps,
        [n for part in parts for n in part.samples],
        parts[0].batch_size,
    )


def train_runs(  # noqa: PLR0913 (a regime's runs: data, recipe, budget and starting weights)
    module: nn.Module,
    specs: Sequence[RunSpec],
    images: Tensor,
    labels: Tensor,
    sgd: SGDConfig,
    epochs: float,
    checkpoints: int,
    fraction: float,
    init: Tensor,
    ascent: AscentConfig | None = None,
    progress: str | None = None,
    steps: int | None = None,
) -> TrainedRuns:
    """Train ``specs`` together from ``init [R, P]``; ascent on the forget class when given.

    All runs take the same number of steps (default: ``run_steps`` of ``specs``; a shard of a
    regime's runs is given the regime's, so it trains exactly as in the whole batch).
    """
    index_sets = [
        data_indices(labels.cpu(), s.forget_class, fraction, s.seed, s.forget_samples)
        for s in specs
    ]
    retain_sets = [retain for retain, _ in index_sets]
    if steps is None:
        steps = steps_for(retain_sets, sgd, epochs)  # run_steps, from the index sets drawn here
    seeds = [s.seed for s in specs]
    batches = batch_schedule(retain_sets, seeds, sgd.batch_size, steps)
    forget_batches = None
    if ascent is not None:
        forget_sets = [forget for _, forget in index_sets]
        forget_size = min(sgd.batch_size, *(len(f) for f in forget_sets))
        forget_batches = batch_schedule(forget_sets, [s + 1 for s in seeds], forget_size, steps)
    at = checkpoint_steps(steps, checkpoints)
    params = train_batched(
        module, init, images, labels, batches, sgd, at, forget_batches, ascent, progress
    )
    return TrainedRuns(list(specs), params, at, [len(r) for r in retain_sets], sgd.batch_size)
