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
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"Unknown device {name!r} (parameter device): use auto, cpu, cuda or cuda:<index>, "
            "e.g. --params device=auto."
        ) from err
    if device.type not in ("cpu", "cuda"):
        raise ValueError(
            f"device {name!r} is not supported: use auto, cpu, cuda or cuda:<index>, e.g. "
            "--params device=auto."
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device is {name!r} but CUDA is not available on this machine; use --params "
            "device=cpu (or device=auto, which picks CUDA where there is one)."
        )
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ValueError(
            f"device is {name!r} but this machine has {torch.cuda.device_count()} CUDA "
            "device(s); use device=cuda (the first) or device=auto."
        )
    return device


def synchronize(device: torch.device) -> None:
    """Wait for the work queued on ``device``, so that a wall-clock timing covers it (CUDA runs
    asynchronously; on the CPU this does nothing)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
