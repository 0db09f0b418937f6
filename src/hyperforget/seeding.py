"""Seeded draws from torch's global generator that leave it as it was."""

from __future__ import annotations

from collections.abc import Iterator
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
