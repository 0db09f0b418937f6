"""Seeds: seeded draws from torch's global generator that leave it as it was, and the
held-out seeds of retrained reference models."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

import torch


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Inside, torch's global (CPU) generator starts from ``seed``; on exit it is restored.

    Module constructors draw their initial weights from the global generator. Seeding it here,
    rather than with a bare ``torch.manual_seed``, makes the weights depend on ``seed`` alone,
    not on what earlier code drew, and leaves the generator unchanged for the code after.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def replica_seeds(
    replicas: Mapping[str, int],
    count_key: str,
    groups: int,
    taken: Iterable[int],
    taken_by: str,
    section: str,
) -> list[list[int]]:
    """Held-out seeds for retraining a reference model again, ``[group][replica]``: replica j
    of group g uses ``replicas["seed"] + j * groups + g``, ``replicas[count_key]`` replicas per
    group. Refuses a negative count and seeds already ``taken`` (by the models ``taken_by``
    names), so every retrained model stays independent; ``section`` names the parameters."""
    runs = int(replicas[count_key])
    if runs < 0:
        raise ValueError(f"{section}.{count_key} must be 0 or more, got {runs}.")
    seeds = [[int(replicas["seed"]) + j * groups + g for j in range(runs)] for g in range(groups)]
    clash = sorted(set(taken).intersection(s for row in seeds for s in row))
    if clash:
        raise ValueError(
            f"{section}.seed gives replica seeds {clash} that {taken_by} already use; move it "
            "apart so every retrained model is independent."
        )
    return seeds
