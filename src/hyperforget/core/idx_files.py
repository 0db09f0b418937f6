"""IDX files, the format MNIST ships in, and torchvision's folder layout for them
(``<root>/<name>/raw``): reading and writing the files, and finding a dataset's files."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# IDX type codes (third byte of the magic number) -> big-endian numpy dtypes.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> Tensor:
    """The array stored in an IDX file (MNIST's format), gunzipped first when it ends in .gz.

    A truncated or corrupt file is refused with its path, never read short.
    """
    path = Path(path)
    fix = "copy it again from its source (or delete it and download it again)"
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise ValueError(f"{path} is not a complete gzip file ({err}); {fix}.") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number); {fix}.")
    dtype, ndim = IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path} is truncated inside its header; {fix}.")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{path} holds {len(raw)} bytes but its header {list(shape)} needs {expected}: the "
            f"file is truncated or corrupt; {fix}."
        )
    array = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return torch.from_numpy(array.astype(dtype.newbyteorder("="), copy=True))


def write_idx(path: str | Path, array: np.ndarray, type_code: int = 0x08) -> None:
    """An IDX file as MNIST's are written (magic, big-endian sizes and data), gzipped when the
    name ends in .gz."""
    path = Path(path)
    header = bytes([0, 0, type_code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    payload = header + array.astype(IDX_DTYPES[type_code]).tobytes()
    path.write_bytes(gzip.compress(payload) if path.suffix == ".gz" else payload)


def write_idx_dataset(
    root: str | Path, name: str, train: tuple[Tensor, Tensor], test: tuple[Tensor, Tensor]
) -> Path:
    """uint8 images ``[N, 1, H, W]`` and labels of a train and a test part as the four gzipped
    IDX files of torchvision's layout (``<root>/<name>/raw``), so a run reads them with
    ``raw_source=torchvision,raw_name=<name>,raw_root=<root>``."""
    folder = torchvision_expected_path(name, root)
    folder.mkdir(parents=True, exist_ok=True)
    for (images, labels), (image_stem, label_stem) in zip(
        (train, test), IDX_FILES.values(), strict=True
    ):
        write_idx(folder / f"{image_stem}.gz", images.squeeze(1).numpy())
        write_idx(folder / f"{label_stem}.gz", labels.numpy())
    return folder


def idx_file(name: str, root: str | Path, stem: str) -> Path:
    """The IDX file ``stem`` of dataset ``name`` under ``root``: uncompressed, else gzipped."""
    folder = torchvision_expected_path(name, root)
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"{name} file '{stem}' (or '{stem}.gz') was not found under '{folder}'. Put the four "
        f"{name} IDX files there (gzipped or not), point the run at another root with "
        f"--params raw_root=<folder holding {name}/raw>, or set 'download: true' on "
        f"'raw_images' in the catalog where the network allows."
    )


def torchvision_expected_path(name: str, root: str | Path) -> Path:
    """Where torchvision looks for the files of dataset ``name`` under ``root``."""
    import torchvision.datasets as tvd

    if name == "CIFAR10":
        return Path(root) / tvd.CIFAR10.base_folder
    return Path(root) / name / "raw"
