"""Nodes of the data_preparation pipeline: thin glue around ``hyperforget.core.data``.

Validation happens in the first nodes, whose outputs stay in memory, so a bad parameter fails
the run before any file is written.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from torch import Tensor

from hyperforget.core import data
from hyperforget.core.params import float_list, list_param
from hyperforget.core.scenario import ForgetScenario, class_set, random_sample_scenarios
from hyperforget.evaluation.plots import class_count_bars
from hyperforget.pipelines.tracking import mlflow_metrics

SPLITS = ("train", "val", "test")


def select_classes(
    raw_images: data.LabelledImages,
    classes: list[int] | None,
    subset: int | None,
    seed: int,
    normalisation: dict | None,
    official_test: bool = False,
) -> data.LabelledImages:
    """Keep the requested classes (all when ``null``), labels re-indexed to 0..K-1, and of them
    a stratified sample of ``subset`` digits (seeded by ``split.seed``; ``null``: all). With
    ``official_test`` the sample is of the official training digits, and the official test part
    stays whole. The normalisation is checked against the images' channels here, before anything
    is saved."""
    _statistics(normalisation, raw_images.images.shape[1])
    selected = data.select_classes(raw_images, list_param(classes))
    if subset is None:
        return selected
    return data.subsample(selected, int(subset), int(seed), keep_official_test=bool(official_test))


def _statistics(
    normalisation: dict | None, channels: int
) -> tuple[list[float] | None, list[float] | None]:
    """``normalisation``'s mean and std as numbers, checked against ``channels``."""
    normalisation = normalisation or {}
    mean = float_list(normalisation.get("mean"), "data_preparation.normalisation.mean")
    std = float_list(normalisation.get("std"), "data_preparation.normalisation.std")
    data.check_statistics(mean or [0.0] * channels, std or [1.0] * channels, channels)
    return mean, std


def uses_official_test(selected: data.LabelledImages, split: dict[str, Any]) -> bool:
    """Whether the source's official test part is the test split (sources that have one)."""
    return bool(split.get("official_test", True)) and selected.official_test is not None


def split_stratified(selected: data.LabelledImages, split: dict[str, Any]) -> dict[str, Tensor]:
    """Seeded, stratified train/val/test indices; with a source that has an official test part
    (torchvision's) that part is the test split, unless ``split.official_test`` is false."""
    fractions = split["fractions"]
    if set(fractions) != set(SPLITS):
        raise ValueError(
            f"data_preparation.split.fractions must name exactly {list(SPLITS)}, "
            f"got {list(fractions)}."
        )
    ordered = {name: float(fractions[name]) for name in SPLITS}
    if uses_official_test(selected, split):
        return data.official_test_split(
            selected.labels, selected.official_test, ordered, seed=int(split["seed"])
        )
    return data.stratified_split(selected.labels, ordered, seed=int(split["seed"]))


def normalise_splits(
    selected: data.LabelledImages, split_indices: dict[str, Tensor], normalisation: dict | None
) -> tuple[dict[str, Tensor], dict[str, Tensor], dict[str, Tensor], dict[str, list[float]]]:
    """Standardise every split with the given statistics (or the train split's when ``null``)."""
    mean, std = _statistics(normalisation, selected.images.shape[1])
    if mean is None or std is None:
        train_mean, train_std = data.channel_stats(selected.images[split_indices["train"]])
        mean, std = mean or train_mean, std or train_std
    mean, std = [float(m) for m in mean], [float(s) for s in std]
    outputs = []
    for name in SPLITS:
        indices = split_indices[name]
        images = data.normalise(selected.images[indices], mean, std)
        outputs.append({"images": images, "labels": selected.labels[indices].clone()})
    return outputs[0], outputs[1], outputs[2], {"mean": mean, "std": std}


def describe_splits(
    selected: data.LabelledImages,
    split_indices: dict[str, Tensor],
    normalisation_used: dict[str, list[float]],
    classes: list[int] | None,
    split: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, Figure, dict[str, dict[str, float]]]:
    """The class manifest later stages read; per-split, per-class counts (table, plot, MLflow)."""
    num_classes = selected.num_classes
    counts = {
        name: data.class_counts(selected.labels[split_indices[name]], num_classes)
        for name in SPLITS
    }
    classes = list_param(classes)
    class_ids = list(range(num_classes)) if classes is None else [int(c) for c in classes]
    manifest = data.class_manifest(selected, class_ids, normalisation_used)
    manifest |= {
        "split_seed": int(split["seed"]),
        "test_split": "official" if uses_official_test(selected, split) else "stratified",
        "fractions": {name: float(split["fractions"][name]) for name in SPLITS},
        "counts": counts,
    }
    metrics = {
        f"{name}.count{suffix}": float(n)
        for name in SPLITS
        for suffix, n in [
            *((f"_c{k}", c) for k, c in enumerate(counts[name])),
            ("", sum(counts[name])),
        ]
    }
    table = pd.DataFrame(
        {
            "label": range(num_classes),
            "class_id": class_ids,
            "class_name": selected.class_names,
            **{name: counts[name] for name in SPLITS},
        }
    )
    plot = class_count_bars(counts, selected.class_names)
    return manifest, table, plot, mlflow_metrics(metrics)


def plan_forget_scenarios(
    selected: data.LabelledImages,
    forget_classes: list[int] | None,
    forget_class_sets: Any,
    split_indices: dict[str, Tensor],
    sample_fractions: Any,
    seed: int,
) -> list[dict[str, Any]]:
    """The forget scenarios the unlearning stage will run, validated before any training.

    ``forget_classes`` are class labels of the prepared dataset (``0..K-1``, after any
    re-indexing by ``data_preparation.classes``), one scenario each; ``null`` means every class.
    ``forget_class_sets`` adds one scenario per set of classes forgotten in one request
    (``"1+7"``); ``null`` or ``[]`` adds none. ``sample_fractions`` adds one sample-wise
    scenario per share of the training split (``0.1``: ``random10``, drawn with ``seed``).
    """
    num_classes = selected.num_classes
    forget_classes = list_param(forget_classes)
    if forget_classes is None:
        forget_classes = list(range(num_classes))
    if not forget_classes:
        raise ValueError(
            "unlearning.forget_classes is empty: list the class labels to forget, e.g. [3], "
            "or null for every class."
        )
    bad = [c for c in forget_classes if isinstance(c, bool) or not isinstance(c, int)]
    if bad:
        raise ValueError(
            f"unlearning.forget_classes contains {bad}, not classes of the prepared dataset "
            f"(labels 0..{num_classes - 1}, see class_manifest.json); forget several classes "
            'in one request with unlearning.forget_class_sets, e.g. ["1+7"].'
        )
    sets = list_param(forget_class_sets) or []
    scenarios = [ForgetScenario.of_classes([c]) for c in dict.fromkeys(forget_classes)]
    scenarios += [
        ForgetScenario.of_classes(classes)
        for classes in dict.fromkeys(class_set(s, "unlearning.forget_class_sets") for s in sets)
    ]
    for scenario in scenarios:
        scenario.check(num_classes)
    fractions = list_param(sample_fractions) or []
    scenarios += random_sample_scenarios(len(split_indices["train"]), fractions, int(seed))
    return [scenario.to_dict() for scenario in scenarios]
