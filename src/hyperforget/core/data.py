"""Image classification data: labelled images, class subsets, stratified splits and
normalisation, and the manifest later stages read.

Plain torch; the ``data_preparation`` nodes call these functions (``sources`` loads the raw
images, ``idx_files`` reads and writes MNIST's file format).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class LabelledImages:
    """Raw images as uint8 ``[N, C, H, W]`` with int64 labels ``[N]``.

    ``official_test`` marks the samples of the source's official test part (``None`` when the
    source has none, as the embedded sample): that part stays the test split by default.
    """

    images: Tensor
    labels: Tensor
    class_names: list[str]
    name: str
    official_test: Tensor | None = None

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or self.labels.dim() != 1:
            raise ValueError(
                f"{self.name}: expected images [N, C, H, W] and labels [N], got "
                f"{list(self.images.shape)} and {list(self.labels.shape)}."
            )
        if len(self.images) != len(self.labels):
            raise ValueError(
                f"{self.name}: {len(self.images)} images but {len(self.labels)} labels."
            )
        if self.official_test is not None and self.official_test.shape != self.labels.shape:
            raise ValueError(
                f"{self.name}: official_test marks {list(self.official_test.shape)} samples "
                f"but there are {len(self.labels)}."
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def select_classes(data: LabelledImages, classes: Sequence[int] | None) -> LabelledImages:
    """Keep only ``classes`` (original ids) and re-index their labels to ``0..K-1`` in that order.

    ``None`` keeps every class. Re-indexing keeps the classifier head ``K`` wide; the manifest
    written by the pipeline maps new labels back to the original ids.
    """
    if classes is None:
        classes = list(range(data.num_classes))
    not_ids = [c for c in classes if isinstance(c, bool) or not isinstance(c, int)]
    if not_ids:
        raise ValueError(
            f"data_preparation.classes must list class ids (whole numbers), got {not_ids}; e.g. "
            '--params "data_preparation.classes=[0 1 2 3]".'
        )
    classes = [int(c) for c in classes]
    if not classes:
        raise ValueError(
            "data_preparation.classes is empty: list at least two class ids, or null for all."
        )
    bad = [c for c in classes if not 0 <= c < data.num_classes]
    if bad:
        raise ValueError(
            f"data_preparation.classes contains {bad}, outside the valid range "
            f"0..{data.num_classes - 1} of {data.name} ({data.num_classes} classes)."
        )
    if len(set(classes)) != len(classes):
        raise ValueError(f"data_preparation.classes has duplicates: {classes}.")
    counts = torch.bincount(data.labels, minlength=data.num_classes)
    empty = [c for c in classes if counts[c] == 0]
    if empty:
        raise ValueError(f"Classes {empty} have no samples in {data.name}; remove them.")
    new_label = torch.full((data.num_classes,), -1, dtype=torch.int64)
    new_label[torch.tensor(classes)] = torch.arange(len(classes))
    keep = new_label[data.labels] >= 0
    return LabelledImages(
        images=data.images[keep],
        labels=new_label[data.labels[keep]],
        class_names=[data.class_names[c] for c in classes],
        name=data.name,
        official_test=None if data.official_test is None else data.official_test[keep],
    )


def subsample(
    data: LabelledImages, size: int, seed: int, keep_official_test: bool = False
) -> LabelledImages:
    """A seeded, stratified ``size``-sample of ``data``: every class (and, where the source has
    one, its official test part apart from its train part) keeps the same share, rounded.

    This is how the project runs on smaller data of the same source, e.g. to check that a
    method's defaults carry over from one data size to another. With ``keep_official_test``
    (the official test part stays the test split) only the official train part is sampled, to
    ``size`` digits, and the official test part is kept whole: every size is then measured on
    the same test digits, enough of them per class to resolve a forget rate of 1-2% (a
    proportional share leaves a 2,000-digit sample about 28 test digits a class, where one digit
    is 3.6%).
    """
    official = data.official_test
    keep_test = keep_official_test and official is not None and bool(official.any())
    pool = ~official if keep_test else torch.ones_like(data.labels, dtype=torch.bool)
    total = int(pool.sum())
    if not 0 < int(size) <= total:
        what = "official training digits" if keep_test else "samples"
        raise ValueError(
            f"data_preparation.subset is {size}, but {data.name} has {total} {what} of the "
            f"selected classes: use a number from 1 to {total}, or null for all of them."
        )
    share = int(size) / total
    generator = torch.Generator().manual_seed(int(seed))
    part = official if official is not None else torch.zeros_like(data.labels)
    groups = data.labels * 2 + part.long()
    kept = [torch.nonzero(~pool).flatten()]
    for group in torch.unique(groups[pool]).tolist():
        members = torch.nonzero((groups == group) & pool).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        kept.append(members[: max(1, round(share * len(members)))])
    keep = torch.cat(kept).sort().values
    return LabelledImages(
        images=data.images[keep],
        labels=data.labels[keep],
        class_names=data.class_names,
        name=f"{data.name} ({len(keep)} of {len(data.labels)})",
        official_test=None if official is None else official[keep],
    )


def check_fractions(fractions: Mapping[str, float]) -> None:
    """Fractions must be positive and sum to 1."""
    if not fractions:
        raise ValueError(
            "data_preparation.split.fractions is empty; e.g. {train: 0.7, val: 0.1, test: 0.2}."
        )
    nonpositive = {k: v for k, v in fractions.items() if not v > 0}
    if nonpositive:
        raise ValueError(f"Split fractions must be positive, got {nonpositive}.")
    total = sum(fractions.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(
            f"Split fractions {dict(fractions)} sum to {total:g}, not 1; adjust "
            "data_preparation.split.fractions."
        )


def stratified_split(
    labels: Tensor, fractions: Mapping[str, float], seed: int
) -> dict[str, Tensor]:
    """Seeded per-class split: each class is shuffled and cut by ``fractions``.

    Every split gets ``round(n_c * fraction)`` samples of class ``c`` (cumulative rounding, so
    nothing is lost). Returns shuffled index tensors, one per split name.
    """
    check_fractions(fractions)
    generator = torch.Generator().manual_seed(int(seed))
    names = list(fractions)
    cumulative = torch.tensor([0.0, *fractions.values()], dtype=torch.float64).cumsum(0)
    parts: dict[str, list[Tensor]] = {name: [] for name in names}
    for cls in torch.unique(labels).tolist():
        members = torch.nonzero(labels == cls).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        bounds = (cumulative * len(members)).round().long().tolist()
        for name, start, stop in zip(names, bounds[:-1], bounds[1:], strict=True):
            if stop <= start:
                raise ValueError(
                    f"Class {cls} has {len(members)} samples, too few to give split {name!r} "
                    f"(fraction {fractions[name]}) at least one; use more data or other fractions."
                )
            parts[name].append(members[start:stop])
    out = {}
    for name in names:
        indices = torch.cat(parts[name])
        out[name] = indices[torch.randperm(len(indices), generator=generator)]
    return out


def official_test_split(
    labels: Tensor, official_test: Tensor, fractions: Mapping[str, float], seed: int
) -> dict[str, Tensor]:
    """The official test part as the test split, in its own order; train and val carved from the
    official train part by :func:`stratified_split` (their ``fractions`` renormalised, the test
    fraction unused), so numbers compare with the literature."""
    if not official_test.any() or official_test.all():
        raise ValueError(
            "The data lack an official train or test part; set "
            "data_preparation.split.official_test to false to pool and re-split them."
        )
    train_part = torch.nonzero(~official_test).flatten()
    carved = {name: float(fractions[name]) for name in ("train", "val")}
    total = sum(carved.values())
    parts = stratified_split(
        labels[train_part], {name: share / total for name, share in carved.items()}, seed
    )
    return {
        "train": train_part[parts["train"]],
        "val": train_part[parts["val"]],
        "test": torch.nonzero(official_test).flatten(),
    }


def channel_stats(images: Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images scaled to [0, 1] (use the train split)."""
    scaled = images.to(torch.float32) / 255.0
    return scaled.mean(dim=(0, 2, 3)).tolist(), scaled.std(dim=(0, 2, 3)).tolist()


def normalise(images: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
    """Scale uint8 images ``[N, C, H, W]`` to [0, 1], then standardise each channel."""
    channels = images.shape[1]
    check_statistics(mean, std, channels)
    view = (1, channels, 1, 1)
    mean_t = torch.tensor([float(m) for m in mean]).view(view)
    std_t = torch.tensor([float(s) for s in std]).view(view)
    return (images.to(torch.float32) / 255.0 - mean_t) / std_t


def check_statistics(mean: Sequence[float], std: Sequence[float], channels: int) -> None:
    """One mean and one positive std per channel, or a message naming the parameter."""
    if len(mean) != channels or len(std) != channels:
        raise ValueError(
            f"Normalisation has {len(mean)} mean and {len(std)} std values for images with "
            f"{channels} channel(s); set data_preparation.normalisation to {channels} values "
            "each, or to null to compute them from the train split."
        )
    if any(s <= 0 for s in std):
        raise ValueError(f"data_preparation.normalisation.std must be positive, got {list(std)}.")


def class_counts(labels: Tensor, num_classes: int) -> list[int]:
    """Samples per class, 0..num_classes-1."""
    return torch.bincount(labels, minlength=num_classes).tolist()


def split_tensors(split: dict[str, Tensor], device: torch.device) -> tuple[Tensor, Tensor]:
    """A split's (images, labels) on ``device``."""
    return split["images"].to(device), split["labels"].to(device)


def class_manifest(
    selected: LabelledImages,
    class_ids: list[int],
    normalisation: Mapping[str, list[float]],
) -> dict:
    """What later stages read about the prepared data: its classes (``class_ids``: the source's
    labels of labels 0..K-1), input shape and the normalisation applied."""
    return {
        "dataset": selected.name,
        "num_classes": selected.num_classes,
        "class_ids": class_ids,
        "class_names": selected.class_names,
        "labels_reindexed": class_ids != list(range(selected.num_classes)),
        "input_shape": list(selected.images.shape[1:]),
        "normalisation": dict(normalisation),
    }
