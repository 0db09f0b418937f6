"""Digit data the project was not tuned on, built offline: MNIST shifted, rotated, thickened or
inverted, and scikit-learn's 8x8 digits upscaled to 28x28.

Each is written in torchvision's MNIST layout (``write_idx_dataset``), so a run reads it as any
MNIST copy (``raw_source=torchvision,raw_name=MNIST,raw_root=<folder>``) with the same
normalisation and recipe: they check that the training recipe carries over
(``bench carry-over --sources``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from hyperforget.core.data import LabelledImages
from hyperforget.core.idx_files import write_idx_dataset

SOURCES = ("mnist", "shifted", "rotated", "thick", "inverted", "sklearn_digits")


def _affine(images: Tensor, theta: Tensor, mode: str) -> Tensor:
    """uint8 images moved by the 2x3 affine maps ``theta [N, 2, 3]`` (zeros outside)."""
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    moved = F.grid_sample(images.float(), grid, mode=mode, align_corners=False)
    return moved.round().clamp(0, 255).to(torch.uint8)


def shifted(images: Tensor, generator: torch.Generator, pixels: int = 4) -> Tensor:
    """Each digit moved by a random whole number of pixels, up to ``pixels`` on each axis."""
    n, _, height, width = images.shape
    moves = torch.randint(-pixels, pixels + 1, (n, 2), generator=generator).float()
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = -2 * moves[:, 0] / width
    theta[:, 1, 2] = -2 * moves[:, 1] / height
    return _affine(images, theta, "nearest")


def rotated(images: Tensor, generator: torch.Generator, degrees: float = 45.0) -> Tensor:
    """Each digit turned by a random angle within ``±degrees``."""
    n = len(images)
    angles = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(degrees)
    cos, sin = angles.cos(), angles.sin()
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    return _affine(images, theta, "bilinear")


def thick(images: Tensor, generator: torch.Generator) -> Tensor:
    """Strokes thickened by one pixel on every side (a 3x3 dilation)."""
    return F.max_pool2d(images.float(), 3, stride=1, padding=1).to(torch.uint8)


def inverted(images: Tensor, generator: torch.Generator) -> Tensor:
    """Dark digits on a white ground."""
    return 255 - images


TRANSFORMS: dict[str, Callable[[Tensor, torch.Generator], Tensor]] = {
    "mnist": lambda images, generator: images,
    "shifted": shifted,
    "rotated": rotated,
    "thick": thick,
    "inverted": inverted,
}


def sklearn_digits(seed: int, test_fraction: float = 0.25) -> LabelledImages:
    """scikit-learn's 1,797 8x8 digits (16 grey levels), upscaled to 28x28 uint8; the last
    ``test_fraction`` of a seeded permutation is marked as the official test part."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32)[:, None] * (255 / 16)
    images = F.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False)
    labels = torch.as_tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    official_test = torch.zeros(len(labels), dtype=torch.bool)
    official_test[order[round(len(labels) * (1 - test_fraction)) :]] = True
    return LabelledImages(
        images=images.round().clamp(0, 255).to(torch.uint8),
        labels=labels,
        class_names=[str(d) for d in range(10)],
        name="sklearn_digits",
        official_test=official_test,
    )


def build_source(name: str, mnist: LabelledImages, root: str | Path, seed: int = 0) -> Path:
    """Write source ``name`` under ``root`` in torchvision's MNIST layout; returns ``root``.

    MNIST variants transform every digit of ``mnist`` (its official test part stays the test
    part; without one, a seeded fifth of the digits is); ``sklearn_digits`` ignores ``mnist``.
    """
    if name not in SOURCES:
        raise ValueError(f"Unknown digit source {name!r}; choose from {', '.join(SOURCES)}.")
    generator = torch.Generator().manual_seed(seed)
    if name == "sklearn_digits":
        data = sklearn_digits(seed)
    else:
        images = TRANSFORMS[name](mnist.images, generator)
        official_test = mnist.official_test
        if official_test is None:
            order = torch.randperm(len(images), generator=generator)
            official_test = torch.zeros(len(images), dtype=torch.bool)
            official_test[order[: len(images) // 5]] = True
        data = LabelledImages(images, mnist.labels, mnist.class_names, name, official_test)
    test = data.official_test
    write_idx_dataset(
        root,
        "MNIST",
        (data.images[~test], data.labels[~test]),
        (data.images[test], data.labels[test]),
    )
    return Path(root)
