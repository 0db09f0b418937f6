"""The zoo's plan: which runs it trains (regime, forgotten class, seed) and what each run gets
(its initial weights, its data subset, its step count and checkpoint steps).

Regimes (docs/architecture.md, Pipelines):
* ``learn``: from random init on all classes (all losses fall);
* ``retain``: from random init without class k (the shape of a perfect unlearning of k);
* ``forget``: from a trained ``learn`` run, bounded ascent on class k and descent on the rest
  (the loss on k rises while the others stay low);
* ``refit``: a trained ``learn`` run retrained without class k on its own features: its last
  layer drawn anew, then the whole network trained on the data without k. Its checkpoint 0 is
  the learn run's final network, the point a request "forget k" starts from; its final one is a
  network the forgetting score can hardly tell from one retrained from scratch.

Every run trains on its own random subset of its allowed data, with its own seed and minibatch
order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from hyperforget.core.flat_params import flatten_module
from hyperforget.core.seeding import seeded
from hyperforget.zoo.training import SGDConfig

REGIMES = ("learn", "retain", "forget", "refit")
FROM_LEARN = ("forget", "refit")  # regimes that start from the final networks of learn runs


@dataclass(frozen=True)
class RunSpec:
    """One zoo run: its regime, the class it forgets (``None`` for ``learn``; an oracle
    retrained without a set of classes holds the tuple) and its seed; an oracle retrained
    without chosen training samples lists their rows (``forget_samples``)."""

    run_id: int
    regime: str
    forget_class: int | tuple[int, ...] | None
    seed: int
    forget_samples: tuple[int, ...] = ()


def _regime_classes(name: str, config: Mapping, num_classes: int) -> list[int]:
    classes = config.get("classes")
    classes = list(range(num_classes)) if classes is None else [int(c) for c in classes]
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise ValueError(
            f"model_zoo.regimes.{name}.classes contains {bad}, outside the dataset's classes "
            f"0..{num_classes - 1}; list valid class labels or null for all."
        )
    if not classes:
        raise ValueError(f"model_zoo.regimes.{name}.classes is empty; use null for all classes.")
    return classes


def plan_runs(regimes: Mapping[str, Mapping], num_classes: int, base_seed: int) -> list[RunSpec]:
    """Expand the ``regimes`` configuration into runs with distinct seeds ``base_seed + i``."""
    unknown = sorted(set(regimes) - set(REGIMES))
    if unknown:
        raise ValueError(f"Unknown zoo regimes {unknown}; available: {', '.join(REGIMES)}.")
    specs: list[RunSpec] = []

    def add(regime: str, forget_class: int | None, runs: int) -> None:
        for _ in range(runs):
            specs.append(RunSpec(len(specs), regime, forget_class, base_seed + len(specs)))

    for name in REGIMES:
        if name not in regimes:
            continue
        config = regimes[name]
        key = "runs" if name == "learn" else "runs_per_class"
        runs = int(config.get(key, 0))
        if runs < 1:
            raise ValueError(
                f"model_zoo.regimes.{name}.{key} is {runs}: give at least 1 run, or remove the "
                "regime from parameters_model_zoo.yml."
            )
        if name == "learn":
            add(name, None, runs)
        else:
            for k in _regime_classes(name, config, num_classes):
                add(name, k, runs)
    for name in FROM_LEARN:
        if name in regimes and "learn" not in regimes:
            raise ValueError(
                f"The {name} regime starts from learn runs: add model_zoo.regimes.learn."
            )
    if not specs:
        raise ValueError("model_zoo.regimes defines no runs; add at least one regime.")
    return specs


def initial_params(build: Callable[[], nn.Module], seeds: Sequence[int]) -> Tensor:
    """Fresh random initialisations ``[R, P]``, one per seed (global RNG state is untouched)."""
    inits = []
    for seed in seeds:
        with seeded(seed):
            inits.append(flatten_module(build()))
    return torch.stack(inits)


def data_indices(
    labels: Tensor,
    forget_class: int | tuple[int, ...] | None,
    fraction: float,
    seed: int,
    forget_samples: Sequence[int] = (),
) -> tuple[Tensor, Tensor]:
    """A run's (retain, forget) training indices: a seeded random ``fraction`` of each. The
    forget set is the samples of ``forget_class`` and the rows ``forget_samples``."""
    generator = torch.Generator().manual_seed(int(seed) + 7919)
    if forget_class is None and not forget_samples:
        retain, forget = torch.arange(len(labels)), torch.empty(0, dtype=torch.long)
    else:
        forgotten = torch.zeros(len(labels), dtype=torch.bool)
        if forget_class is not None:
            classes = torch.tensor(forget_class, dtype=labels.dtype).flatten()
            forgotten |= torch.isin(labels, classes)
        forgotten[list(forget_samples)] = True
        retain = torch.nonzero(~forgotten).flatten()
        forget = torch.nonzero(forgotten).flatten()

    def subset(indices: Tensor) -> Tensor:
        keep = max(1, round(len(indices) * fraction))
        return indices[torch.randperm(len(indices), generator=generator)[:keep]]

    return subset(retain), subset(forget) if len(forget) else forget


def checkpoint_steps(steps: int, checkpoints: int) -> list[int]:
    """``checkpoints`` evenly spaced steps from 0 (initial) to ``steps`` (final), distinct."""
    if checkpoints < 2:
        raise ValueError("model_zoo.checkpoints_per_run must be at least 2 (initial and final).")
    return sorted({round(i * steps / (checkpoints - 1)) for i in range(checkpoints)})


def run_steps(
    specs: Sequence[RunSpec], labels: Tensor, sgd: SGDConfig, epochs: float, fraction: float
) -> int:
    """The steps every run of ``specs`` takes: ``epochs`` passes over the largest run's data, and
    at least ``sgd.min_steps`` (on small data a few epochs are too few steps to train at all)."""
    retain_sets = [
        data_indices(labels.cpu(), s.forget_class, fraction, s.seed, s.forget_samples)[0]
        for s in specs
    ]
    return steps_for(retain_sets, sgd, epochs)


def steps_for(retain_sets: Sequence[Tensor], sgd: SGDConfig, epochs: float) -> int:
    """``run_steps`` of runs whose retain index sets are already drawn."""
    largest = max(len(retain) for retain in retain_sets)
    return max(1, int(sgd.min_steps), round(epochs * largest / sgd.batch_size))
