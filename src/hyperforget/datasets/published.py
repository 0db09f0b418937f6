"""A file people and tools read as the latest result (``results.csv``, ``results.md``),
replaced only when a run completes.

``save`` writes the inner dataset (any Kedro dataset type with a ``filepath``) to a staged file
beside the published one; ``lineage.LineageHook`` renames every staged file over its published
one after the run's manifest is written (``publish_staged``; a rename within a folder is atomic)
and deletes them when the run fails (``discard_staged``). A run that fails, is interrupted or
finds the disk full leaves the published files as the last complete run wrote them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kedro.io.core import AbstractDataset

# staged file -> the published file it replaces, for the run in progress in this process
_STAGED: dict[Path, Path] = {}


class PublishedDataset(AbstractDataset[Any, Any]):
    """``dataset`` (a type name or a config without ``filepath``) published at ``filepath``."""

    def __init__(
        self,
        *,
        dataset: str | dict[str, Any],
        filepath: str,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self._config = {"type": dataset} if isinstance(dataset, str) else dict(dataset)
        self._filepath = Path(filepath)
        self.metadata = metadata

    def _inner(self, path: Path) -> AbstractDataset:
        return AbstractDataset.from_config(path.name, {**self._config, "filepath": str(path)})

    def load(self) -> Any:
        return self._inner(self._filepath).load()

    def save(self, data: Any) -> None:
        staged = self._filepath.with_name(f".{self._filepath.name}.staged-{os.getpid()}")
        staged.parent.mkdir(parents=True, exist_ok=True)
        self._inner(staged).save(data)
        _STAGED[staged] = self._filepath

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "dataset": self._config.get("type")}


def publish_staged() -> list[Path]:
    """Replace each published file by its staged one; the published paths."""
    published = []
    for staged, target in list(_STAGED.items()):
        os.replace(staged, target)
        published.append(target)
    _STAGED.clear()
    return published


def discard_staged() -> None:
    """Delete the staged files of a run that did not complete."""
    for staged in _STAGED:
        staged.unlink(missing_ok=True)
    _STAGED.clear()
