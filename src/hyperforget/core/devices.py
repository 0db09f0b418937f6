"""Pick the torch device a run computes on."""

from __future__ import annotations

import torch


def resolve_device(name: str = "auto") -> torch.device:
    """Turn a config value (``auto``, ``cpu``, ``cuda``, ``cuda:1``) into a ``torch.device``.

    ``auto`` means CUDA when a GPU is visible, else CPU, so one configuration serves a laptop,
    CI and a GPU box. Asking for CUDA where there is none is an error rather than a silent fallback,
    because timings and results would otherwise be attributed to the wrong hardware.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(
            f"Unknown device {name!r}: use 'auto', 'cpu', 'cuda' or 'cuda:<index>' "
            "(parameter 'device' in conf/base/parameters.yml)."
        ) from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"Device {name!r} was requested but CUDA is not available on this machine; "
            "set 'device: auto' or 'device: cpu' in conf/base/parameters.yml."
        )
    return device


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device``, so that a wall-clock timing covers it (CUDA runs
    asynchronously; on the CPU this does nothing)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
