"""What several benchmarks share: the pipeline's default data, a stage's parameters as a run
of an environment sees them, a median timing, and the newest version of a versioned dataset."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from hyperforget.core import data
from hyperforget.core.sources import load_embedded_mnist

# the project's root: conf/ and pyproject.toml
PROJECT_ROOT = Path(__file__).resolve().parents[3]


def embedded_splits() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The default data of the pipeline (embedded MNIST, 70/10/20, the train split's
    statistics)."""
    mnist = load_embedded_mnist()
    fractions = {"train": 0.7, "val": 0.1, "test": 0.2}
    indices = data.stratified_split(mnist.labels, fractions, seed=0)
    mean, std = data.channel_stats(mnist.images[indices["train"]])
    return {
        name: (data.normalise(mnist.images[idx], mean, std), mnist.labels[idx])
        for name, idx in indices.items()
    }


def stage_parameters(stage: str, env: str) -> dict:
    """Parameters of ``stage`` as ``kedro run --env <env>`` sees them: the project's own config
    loader and settings (``base`` is a run without ``--env``)."""
    from hyperforget import settings

    conf = PROJECT_ROOT / "conf"
    run_env = None if env == "base" else env
    loader = settings.CONFIG_LOADER_CLASS(str(conf), env=run_env, **settings.CONFIG_LOADER_ARGS)
    return loader["parameters"][stage]


def median_seconds(work: Callable[[], object], repeats: int) -> float:
    """Median wall-clock seconds of ``work()`` over ``repeats`` calls, after one warm-up call."""
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return sorted(times[1:])[repeats // 2]


def newest(path: Path) -> Path:
    """The newest version of a versioned dataset folder."""
    return sorted(path.iterdir())[-1] / path.name
