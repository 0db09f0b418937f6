import inspect
import json

import pytest
import torch
from kedro.io import DatasetError
from kedro.io.core import Version

from hyperforget.datasets import SafetensorsDataset


def test_round_trip_with_metadata(tmp_path):
    dataset = SafetensorsDataset(filepath=str(tmp_path / "w.safetensors"))
    tensors = {"params": torch.randn(3, 5), "labels": torch.arange(4)}
    dataset.save({**tensors, "__metadata__": {"model": "mlp", "hidden": 10}})
    loaded = dataset.load()
    assert torch.equal(loaded["params"], tensors["params"])
    assert torch.equal(loaded["labels"], tensors["labels"])
    assert loaded["__metadata__"] == {
        "model": "mlp",
        "hidden": "10",
        "__file__": str(tmp_path / "w.safetensors"),
    }


def test_versions_are_kept(tmp_path):
    path = str(tmp_path / "w.safetensors")
    SafetensorsDataset(filepath=path, version=Version(None, "v1")).save({"x": torch.zeros(2)})
    SafetensorsDataset(filepath=path, version=Version(None, "v2")).save({"x": torch.ones(2)})
    first = SafetensorsDataset(filepath=path, version=Version("v1", None)).load()
    latest = SafetensorsDataset(filepath=path, version=Version(None, None)).load()
    assert torch.equal(first["x"], torch.zeros(2))
    assert torch.equal(latest["x"], torch.ones(2))


def test_corrupt_file_error_names_the_file(tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a header at all")
    with pytest.raises(DatasetError, match=r"w\.safetensors' is not a readable safetensors file"):
        SafetensorsDataset(filepath=str(path)).load()


def test_non_tensor_entries_are_refused(tmp_path):
    dataset = SafetensorsDataset(filepath=str(tmp_path / "w.safetensors"))
    with pytest.raises(DatasetError, match=r"\['x'\] are not tensors"):
        dataset.save({"x": [1, 2]})


def test_preview_lists_tensors_and_metadata_from_the_header(tmp_path):
    dataset = SafetensorsDataset(filepath=str(tmp_path / "w.safetensors"))
    dataset.save(
        {
            "params": torch.zeros(3, 5),
            "seconds": torch.zeros(3, dtype=torch.float64),
            "__metadata__": {"model": "mlp", "long": "x" * 1000},
        }
    )
    # a JSON document: the preview type kedro-viz's page renders (the return annotation)
    assert inspect.signature(SafetensorsDataset.preview).return_annotation == "JSONPreview"
    preview = json.loads(dataset.preview(max_metadata_chars=10))
    assert preview["tensors"] == {"params": "F32 [3, 5]", "seconds": "F64 [3]"}
    assert preview["metadata"] == {"model": "mlp", "long": "x" * 10 + "…"}


def test_equal_tensors_and_metadata_give_identical_bytes(tmp_path):
    """safetensors writes its metadata from a hash map, in an order that changes from call to
    call; the dataset writes the header sorted, so reruns give byte-identical files."""
    data = {
        "params": torch.arange(12.0).reshape(3, 4),
        "seed": torch.tensor([3]),
        "__metadata__": {f"key{i}": f"value {i}" for i in range(20)},
    }
    blobs = set()
    for i in range(6):
        path = tmp_path / f"w{i}.safetensors"
        SafetensorsDataset(filepath=str(path)).save(data)
        blobs.add(path.read_bytes())
    assert len(blobs) == 1
    loaded = SafetensorsDataset(filepath=str(tmp_path / "w0.safetensors")).load()
    assert torch.equal(loaded["params"], data["params"])
    assert {k: v for k, v in loaded["__metadata__"].items() if k != "__file__"} == data[
        "__metadata__"
    ]


def test_a_save_leaves_no_partial_file_behind(tmp_path):
    path = tmp_path / "w.safetensors"
    SafetensorsDataset(filepath=str(path)).save({"x": torch.ones(3)})
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]
