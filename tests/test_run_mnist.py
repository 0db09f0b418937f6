"""The `mnist4` environment's data preparation on the real MNIST files (full MNIST, digits 0-3).

Runs only where the full MNIST files are present (this repository's CI has them); the full
`unlearn` chain on them is a benchmark, not a test (README, "Environments").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hyperforget.core.idx_files import read_idx
from hyperforget.datasets import SafetensorsDataset
from tests.conftest import PROJECT_ROOT, copy_project
from tests.test_run_unlearn import only_version, run_unlearn

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
RAW = SHARED_DATA / "MNIST" / "raw"

pytestmark = pytest.mark.skipif(not RAW.is_dir(), reason="full MNIST files not present")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = copy_project(tmp_path_factory.mktemp("mnist4"))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(path)
        run_unlearn(path, {"raw_root": str(SHARED_DATA)}, ("data_preparation",), env="mnist4")
    return path


def load_split(project: Path, split: str) -> dict[str, torch.Tensor]:
    file = only_version(project / "data/03_primary" / f"{split}_split.safetensors")
    return SafetensorsDataset(filepath=str(file)).load()


def test_test_split_is_the_official_test_set_of_digits_0_to_3(prepared):
    official_labels = read_idx(RAW / "t10k-labels-idx1-ubyte.gz").long()
    official_images = read_idx(RAW / "t10k-images-idx3-ubyte.gz")
    keep = official_labels < 4
    test = load_split(prepared, "test")
    assert torch.equal(test["labels"], official_labels[keep])
    manifest = json.loads(
        only_version(prepared / "data/03_primary/class_manifest.json").read_text()
    )
    # normalised with the train split's own statistics (normalisation: null), MNIST's usual ones
    (mean,), (std,) = manifest["normalisation"]["mean"], manifest["normalisation"]["std"]
    assert abs(mean - 0.13) < 0.03 and abs(std - 0.31) < 0.03
    expected = (official_images[keep].float() / 255 - mean) / std
    torch.testing.assert_close(test["images"].squeeze(1), expected)


def test_train_and_val_are_the_official_training_digits_stratified(prepared):
    manifest = json.loads(
        only_version(prepared / "data/03_primary/class_manifest.json").read_text()
    )
    assert manifest["test_split"] == "official" and manifest["class_ids"] == [0, 1, 2, 3]
    official_train = torch.bincount(read_idx(RAW / "train-labels-idx1-ubyte.gz").long())[:4]
    train, val = manifest["counts"]["train"], manifest["counts"]["val"]
    assert [t + v for t, v in zip(train, val, strict=True)] == official_train.tolist()
    assert val == [round(n * 0.1) for n in official_train.tolist()]
    assert len(load_split(prepared, "val")["labels"]) == sum(val)
