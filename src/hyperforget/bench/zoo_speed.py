"""``bench zoo``: the zoo's ``learn`` runs trained batched, in a plain loop and with a
``DataLoader`` per run (checkpoints per second, each checkpoint evaluated per class on val);
``bench zoo --backend dask``: the same runs trained on a ``LocalCluster`` per worker count."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from hyperforget.bench.common import embedded_splits, stage_parameters
from hyperforget.core.compute import ComputeConfig, tasks
from hyperforget.core.flat_params import flatten_module, load_flat_into
from hyperforget.core.per_class import evaluate_per_class, per_class_from_logits
from hyperforget.core.targets import build_target
from hyperforget.zoo.plan import checkpoint_steps, data_indices, initial_params, plan_runs
from hyperforget.zoo.runs import train_regime
from hyperforget.zoo.training import (
    SGDConfig,
    batch_schedule,
    train_batched,
    train_single,
    zoo_sgd,
)


def _evaluate_alone(
    build: Callable[[], nn.Module], val: tuple[Tensor, Tensor], params: Tensor
) -> None:
    """One checkpoint evaluated per class on val, as a plain ``nn.Module``."""
    val_images, val_labels = val
    with torch.no_grad():
        logits = load_flat_into(build(), params)(val_images)
    per_class_from_logits(logits[None], val_labels, 10)


def _train_with_loader(  # noqa: PLR0913 (one run: its start, data, recipe and checkpoints)
    net: nn.Module,
    images: Tensor,
    labels: Tensor,
    sgd: SGDConfig,
    steps: int,
    at: Sequence[int],
    seed: int,
    evaluate: Callable[[Tensor], None],
) -> None:
    """The usual training script: a shuffled ``DataLoader``, each checkpoint evaluated."""
    optimizer = sgd.optimizer(net.parameters())
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    loader = DataLoader(
        TensorDataset(sgd.inputs(images), labels),
        batch_size=sgd.batch_size,
        shuffle=True,
        drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    step = 0
    evaluate(flatten_module(net))
    while step < steps:
        for x, y in loader:
            loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            if step in at:
                evaluate(flatten_module(net))
            if step == steps:
                break


def _print_zoo_speeds(header: str, checkpoints: int, seconds: dict[str, float], gap: float) -> None:
    """Checkpoints per second of each way, their ratios, and how far the loop's weights are from
    the batched ones."""
    t_batched, t_loop, t_loader = seconds["batched"], seconds["loop"], seconds["loader"]
    print(header)
    print(f"  batched             {checkpoints / t_batched:8.1f} checkpoints/s ({t_batched:.2f} s)")
    print(f"  loop                {checkpoints / t_loop:8.1f} checkpoints/s ({t_loop:.2f} s)")
    print(f"  loop + DataLoader   {checkpoints / t_loader:8.1f} checkpoints/s ({t_loader:.2f} s)")
    print(f"  ratio batched / loop               {t_loop / t_batched:6.2f}")
    print(f"  ratio batched / loop + DataLoader  {t_loader / t_batched:6.2f}")
    print(f"  max |batched - loop| weight difference: {gap:.2e}")


def bench_zoo(runs: int, epochs: int, checkpoints: int, env: str, input_dtype: str | None) -> None:
    """The same ``learn`` runs trained batched, in a loop and with a ``DataLoader`` per run."""
    splits = embedded_splits()
    (images, labels), val = splits["train"], splits["val"]
    build = partial(build_target, (1, 28, 28), 10, (10,))
    module = build()
    sgd = zoo_sgd(stage_parameters("model_zoo", env), input_dtype)
    specs = plan_runs({"learn": {"runs": runs}}, 10, base_seed=1000)
    seeds = [s.seed for s in specs]
    subsets = [data_indices(labels, None, 0.8, s)[0] for s in seeds]
    steps = epochs * (len(subsets[0]) // sgd.batch_size)
    at = checkpoint_steps(steps, checkpoints)
    batches = batch_schedule(subsets, seeds, sgd.batch_size, steps)
    init = initial_params(build, seeds)
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)  # warm-up: lazy imports
    evaluate_alone = partial(_evaluate_alone, build, val)
    seconds = {}

    start = time.perf_counter()
    batched = train_batched(module, init, images, labels, batches, sgd, at)
    evaluate_per_class(module, batched.flatten(0, 1), *val, 10)
    seconds["batched"] = time.perf_counter() - start

    start = time.perf_counter()
    looped = []
    for r in range(runs):
        ckpts = train_single(build(), init[r], images, labels, batches[r], sgd, at)
        for params in ckpts:
            evaluate_alone(params)
        looped.append(ckpts)
    seconds["loop"] = time.perf_counter() - start
    gap = (torch.stack(looped) - batched).abs().max().item()

    start = time.perf_counter()
    for r in range(runs):
        net = load_flat_into(build(), init[r])
        subset = subsets[r]
        _train_with_loader(
            net, images[subset], labels[subset], sgd, steps, at, seeds[r], evaluate_alone
        )
    seconds["loader"] = time.perf_counter() - start

    header = (
        f"zoo benchmark: {runs} runs x {steps} steps, {len(at)} checkpoints per run, "
        f"{torch.get_num_threads()} threads, device cpu, {sgd.input_dtype} inputs ({env} config)"
    )
    _print_zoo_speeds(header, runs * len(at), seconds, gap)


def bench_zoo_dask(runs: int, epochs: int, checkpoints: int, env: str, workers: list[int]) -> None:
    """The zoo's learn runs trained as on ``compute.backend: dask``, a ``LocalCluster`` of each
    worker count (one thread each; the regime cut into that many tasks), against the local
    backend (one batch, torch's threads): runs per second of training alone. Each way trains
    the runs twice and only the second is timed: the first pays the cluster's start, each
    worker's imports and first data transfer, and torch's lazy set-up."""
    (images, labels) = embedded_splits()["train"]
    build = partial(build_target, (1, 28, 28), 10, (10,))
    sgd = zoo_sgd(stage_parameters("model_zoo", env))
    specs = plan_runs({"learn": {"runs": runs}}, 10, base_seed=1000)
    init = initial_params(build, [s.seed for s in specs])
    recipe = {"sgd": sgd, "epochs": epochs, "checkpoints": checkpoints, "fraction": 0.8}

    train_regime(build, specs, images, labels, init, recipe, None)  # warm-up
    start = time.perf_counter()
    local = train_regime(build, specs, images, labels, init, recipe, None)
    t_local = time.perf_counter() - start
    print(
        f"zoo on dask: {runs} learn runs x {local.steps[-1]} steps ({env} config), "
        f"{torch.get_num_threads()} torch threads locally, one per worker"
    )
    print(f"  local (one batch)   {runs / t_local:8.2f} runs/s ({t_local:.2f} s)")
    timed = {}
    for n in workers:
        config = ComputeConfig(backend="dask", address=None, workers=n, connect_timeout=10)
        with tasks(config) as map_tasks:
            cut_up = (build, specs, images, labels, init, recipe, "bench zoo", map_tasks, n)
            train_regime(*cut_up)  # warm-up
            start = time.perf_counter()
            cut = train_regime(*cut_up)
            timed[n] = time.perf_counter() - start
        gap = (cut.params - local.params).abs().max().item()
        print(
            f"  dask, {n} worker(s)  {runs / timed[n]:8.2f} runs/s ({timed[n]:.2f} s), "
            f"max |dask - local| weight {gap:.1e}"
        )
    first = workers[0]
    for n in workers[1:]:
        print(f"  speed-up {n} / {first} worker(s)   {timed[first] / timed[n]:6.2f}")
    for n in workers:
        print(f"  ratio dask {n} worker(s) / local  {t_local / timed[n]:6.2f}")
