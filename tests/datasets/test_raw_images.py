import pytest
from kedro.io import DatasetError

from hyperforget.datasets import RawImageDataset


def test_embedded_source_loads_offline():
    images = RawImageDataset().load()
    assert images.name == "embedded_mnist"
    assert images.images.shape == (5000, 1, 28, 28)


def test_unknown_source_is_rejected():
    with pytest.raises(DatasetError, match="Unknown raw image source 'kaggle'"):
        RawImageDataset(source="kaggle")


def test_unknown_torchvision_name_is_rejected():
    with pytest.raises(DatasetError, match="Unknown torchvision dataset 'SVHN'"):
        RawImageDataset(source="torchvision", name="SVHN")


def test_missing_torchvision_files(tmp_path):
    dataset = RawImageDataset(source="torchvision", name="KMNIST", root=str(tmp_path))
    with pytest.raises(
        DatasetError, match="KMNIST file 'train-images-idx3-ubyte'.* not found under '.*KMNIST/raw'"
    ):
        dataset.load()


def test_is_read_only():
    dataset = RawImageDataset()
    with pytest.raises(DatasetError, match="read-only"):
        dataset.save(dataset.load())
