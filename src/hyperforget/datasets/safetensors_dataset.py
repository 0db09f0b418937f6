"""Versioned Kedro dataset for named tensors stored as safetensors (never pickle).

Loads and saves ``dict[str, torch.Tensor]``. A ``"__metadata__"`` entry holding a
``dict[str, str]`` is written to the file's safetensors header and returned on load, which is
where weight files keep the configuration needed to rebuild their model. On load it also holds
``"__file__"``, the path read, so errors about the weights can name their file.
"""

from __future__ import annotations

import io
import json
import os
import struct
from collections.abc import Callable
from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any

import fsspec
import torch
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)
from kedro_datasets._typing import JSONPreview
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

METADATA_KEY = "__metadata__"


def canonical(blob: bytes) -> bytes:
    """``blob`` (a safetensors file) with its header's keys in sorted order: safetensors writes
    the metadata from a hash map, in an order that changes from call to call, so equal tensors
    and metadata would give different bytes. The tensor bytes are untouched (their offsets are
    relative to the end of the header)."""
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + header_len])
    if METADATA_KEY in header:
        header[METADATA_KEY] = dict(sorted(header[METADATA_KEY].items()))
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # the data section stays 8-byte aligned, as safetensors has it
    return struct.pack("<Q", len(text)) + text + blob[8 + header_len :]


def _read_header(read: Callable[[int], bytes]) -> dict[str, Any]:
    """A safetensors file's JSON header (tensor entries and ``__metadata__``), from a reader of
    its first bytes: the header alone, never the tensors."""
    (header_len,) = struct.unpack("<Q", read(8))
    return json.loads(read(header_len))


class SafetensorsDataset(AbstractVersionedDataset[dict[str, Any], dict[str, Any]]):
    """Named tensors in one ``.safetensors`` file, optionally versioned by Kedro."""

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        credentials: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath, version)
        fs_args = deepcopy(fs_args) or {}
        if protocol == "file":
            fs_args.setdefault("auto_mkdir", True)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(credentials or {}), **fs_args)
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def load(self) -> dict[str, Any]:
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(load_path, mode="rb") as handle:
            blob = handle.read()
        try:
            tensors: dict[str, Any] = dict(load_safetensors(blob))
            file_metadata = _read_header(io.BytesIO(blob).read).get(METADATA_KEY)
        except Exception as err:  # safetensors raises its own error types
            raise DatasetError(
                f"'{load_path}' is not a readable safetensors file (corrupt or truncated?): "
                f"{err}. Delete it and re-run the pipeline stage that produces it."
            ) from err
        # the file a weight set came from, so later errors about it can name it
        tensors[METADATA_KEY] = {**(file_metadata or {}), "__file__": load_path}
        return tensors

    def save(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict):
            raise DatasetError(
                f"SafetensorsDataset saves a dict of tensors, got {type(data).__name__}."
            )
        metadata = data.get(METADATA_KEY)
        if metadata is not None:
            metadata = {k: v for k, v in metadata.items() if k != "__file__"}
        tensors = {k: v for k, v in data.items() if k != METADATA_KEY}
        not_tensors = [k for k, v in tensors.items() if not isinstance(v, torch.Tensor)]
        if not_tensors:
            raise DatasetError(
                f"Entries {not_tensors} are not tensors; cannot save as safetensors."
            )
        if metadata is not None:
            metadata = {str(k): str(v) for k, v in metadata.items()}
        blob = canonical(
            save_safetensors(
                {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=metadata
            )
        )
        save_path = get_filepath_str(self._get_save_path(), self._protocol)
        # written whole to a temporary name, then renamed: an interrupted save never leaves a
        # truncated file under the dataset's name
        partial = f"{save_path}.partial-{os.getpid()}"
        with self._fs.open(partial, mode="wb") as handle:
            handle.write(blob)
        self._fs.mv(partial, save_path)
        self._fs.invalidate_cache(save_path)

    def preview(self, max_metadata_chars: int = 300) -> JSONPreview:
        """kedro-viz's preview: each tensor's dtype and shape (one string, ``"F32 [3, 5]"``: the
        page folds nested lists away) and the header metadata, read from the header alone,
        never the tensors. The return annotation is the preview type kedro-viz's page renders
        (a JSON document); any other type shows an empty panel."""
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(load_path, mode="rb") as handle:
            header = _read_header(handle.read)
        metadata = header.pop(METADATA_KEY, None) or {}
        preview = {
            "file": load_path,
            "tensors": {
                name: f"{entry['dtype']} {entry['shape']}" for name, entry in sorted(header.items())
            },
            "metadata": {
                key: value if len(value) <= max_metadata_chars else value[:max_metadata_chars] + "…"
                for key, value in sorted(metadata.items())
            },
        }
        return JSONPreview(json.dumps(preview, indent=2, ensure_ascii=False))

    def _exists(self) -> bool:
        try:
            load_path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(load_path)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "version": self._version}
