"""Checks of the machine a run needs, made before its first node: every folder it writes can be
written, and the disk has room for what it will save (estimated from the last version of each
dataset it saves). A run that would fail at its first save, or halfway on a full disk, is
refused with the folder and the fix instead."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

MIN_FREE_BYTES = 50 * 2**20  # logs, MLflow, and datasets never saved before
MIB = 2**20


def _existing_ancestor(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def output_folders(datasets: dict[str, Any]) -> dict[Path, str]:
    """The folder each dataset with a local ``_filepath`` writes into -> one dataset's name."""
    folders: dict[Path, str] = {}
    for name, dataset in sorted(datasets.items()):
        filepath = getattr(dataset, "_filepath", None)
        if filepath is None or "://" in str(filepath):
            continue
        folders.setdefault(Path(str(filepath)).parent, name)
    return folders


def check_writable(folders: dict[Path, str]) -> None:
    """Refuse when a file cannot be created in the nearest existing folder of any output (a
    probe file, removed at once: permissions, read-only mounts and full inode tables alike)."""
    for folder, name in folders.items():
        existing = _existing_ancestor(folder)
        try:
            with tempfile.NamedTemporaryFile(dir=existing, prefix=".write-probe-"):
                pass
        except OSError:
            raise ValueError(
                f"Cannot write to {existing} (where {name} is saved): make it writable "
                f"(chmod -R u+w {existing}) or run from a copy of the project. Nothing was run."
            ) from None


def last_version_bytes(dataset: Any) -> int:
    """The size of the newest saved version of a versioned dataset (0 when none)."""
    filepath = getattr(dataset, "_filepath", None)
    if filepath is None or "://" in str(filepath):
        return 0
    folder = Path(str(filepath))
    if not folder.is_dir():
        return 0
    versions = sorted((v for v in folder.iterdir() if v.is_dir()), reverse=True)
    for version in versions:
        file = version / folder.name
        if file.is_file():
            return file.stat().st_size
    return 0


def check_disk_space(datasets: dict[str, Any], where: Path) -> None:
    """Refuse when the disk holding ``where`` has less room than the run's outputs took last
    time (plus a margin for logs and first saves)."""
    needed = sum(last_version_bytes(d) for d in datasets.values()) + MIN_FREE_BYTES
    free = shutil.disk_usage(_existing_ancestor(where)).free
    if free < needed:
        raise ValueError(
            f"Only {free / MIB:.0f} MiB free on the disk of {where.absolute()}, and this run "
            f"saves about {needed / MIB:.0f} MiB (its outputs' last versions plus "
            f"{MIN_FREE_BYTES / MIB:.0f} MiB): free space (old versions are the dated folders "
            "under data/0*/*/) and run again. Nothing was run."
        )
