import os
import shutil
from collections import namedtuple
from pathlib import Path

import pytest

from hyperforget import preflight


class Versioned:
    def __init__(self, filepath: Path) -> None:
        self._filepath = filepath


def test_an_output_folder_that_cannot_be_written_is_named(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    preflight.check_writable({data / "06_models/x.safetensors": "original_weights"})

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(preflight.tempfile, "NamedTemporaryFile", refuse)
    with pytest.raises(ValueError, match=rf"Cannot write to {data} \(where original_weights is"):
        preflight.check_writable({data / "06_models/x.safetensors": "original_weights"})


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="Cannot write to"):
            preflight.check_writable({tmp_path / "a": "a_table"})
    finally:
        tmp_path.chmod(0o700)


def test_a_disk_without_room_for_the_last_versions_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "w.safetensors"
    (folder / "2026-01-01T00.00.00.000Z").mkdir(parents=True)
    (folder / "2026-01-01T00.00.00.000Z" / "w.safetensors").write_bytes(b"0" * 1000)
    assert preflight.last_version_bytes(Versioned(folder)) == 1000
    usage = namedtuple("usage", "total used free")
    free = preflight.MIN_FREE_BYTES + 2000
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(free, 0, free))
    preflight.check_disk_space({"w": Versioned(folder)}, tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(free, 0, free - 1500))
    with pytest.raises(ValueError, match=r"MiB free on the disk of .* free space"):
        preflight.check_disk_space({"w": Versioned(folder)}, tmp_path)
