import pytest
import torch

from hyperforget import data

FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


def test_stratified_split_is_exact_per_class_and_disjoint(tiny_images):
    splits = data.stratified_split(tiny_images.labels, FRACTIONS, seed=0)
    all_indices = torch.cat(list(splits.values()))
    assert sorted(all_indices.tolist()) == list(range(30))
    for name, fraction in FRACTIONS.items():
        counts = torch.bincount(tiny_images.labels[splits[name]], minlength=3)
        assert counts.tolist() == [round(10 * fraction)] * 3


def test_stratified_split_is_deterministic_in_the_seed(tiny_images):
    first = data.stratified_split(tiny_images.labels, FRACTIONS, seed=1)
    again = data.stratified_split(tiny_images.labels, FRACTIONS, seed=1)
    other = data.stratified_split(tiny_images.labels, FRACTIONS, seed=2)
    assert all(torch.equal(first[k], again[k]) for k in FRACTIONS)
    assert not all(torch.equal(first[k], other[k]) for k in FRACTIONS)


@pytest.mark.parametrize(
    ("fractions", "message"),
    [
        ({"train": 0.7, "val": 0.2, "test": 0.2}, "sum to 1.1"),
        ({"train": 1.0, "val": 0.0, "test": 0.0}, "must be positive"),
        ({}, "is empty"),
    ],
)
def test_bad_fractions_are_rejected(tiny_images, fractions, message):
    with pytest.raises(ValueError, match=message):
        data.stratified_split(tiny_images.labels, fractions, seed=0)


def test_class_too_small_for_a_split_is_named(tiny_images):
    with pytest.raises(ValueError, match="Class 0 has 10 samples"):
        data.stratified_split(tiny_images.labels, {"train": 0.98, "val": 0.01, "test": 0.01}, 0)


def test_select_classes_reindexes_in_the_given_order(tiny_images):
    selected = data.select_classes(tiny_images, [2, 0])
    assert selected.class_names == ["c", "a"]
    assert torch.bincount(selected.labels).tolist() == [10, 10]
    original_of_new_zero = tiny_images.images[tiny_images.labels == 2]
    assert torch.equal(selected.images[selected.labels == 0], original_of_new_zero)


def test_select_all_classes_with_none(tiny_images):
    selected = data.select_classes(tiny_images, None)
    assert torch.equal(selected.labels, tiny_images.labels)


@pytest.mark.parametrize(
    ("classes", "message"),
    [([5], r"\[5\], outside the valid range 0..2"), ([], "is empty"), ([1, 1], "duplicates")],
)
def test_select_classes_rejects_bad_ids(tiny_images, classes, message):
    with pytest.raises(ValueError, match=message):
        data.select_classes(tiny_images, classes)


def test_select_classes_rejects_a_class_without_samples(tiny_images):
    tiny_images.labels[tiny_images.labels == 1] = 0
    with pytest.raises(ValueError, match=r"Classes \[1\] have no samples"):
        data.select_classes(tiny_images, [0, 1])


def test_normalise_standardises_with_given_statistics(tiny_images):
    mean, std = data.channel_stats(tiny_images.images)
    out = data.normalise(tiny_images.images, mean, std)
    assert out.dtype == torch.float32
    assert out.mean().abs() < 1e-5
    assert (out.std() - 1).abs() < 1e-4


def test_normalise_rejects_channel_mismatch(tiny_images):
    with pytest.raises(ValueError, match="3 mean and 3 std values for images with 1 channel"):
        data.normalise(tiny_images.images, [0.5] * 3, [0.2] * 3)


def test_embedded_mnist_has_500_digits_per_class():
    mnist = data.load_embedded_mnist()
    assert mnist.images.shape == (5000, 1, 28, 28)
    assert mnist.images.dtype == torch.uint8
    assert torch.bincount(mnist.labels).tolist() == [500] * 10


def test_missing_torchvision_files_name_the_expected_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "FashionMNIST" / "raw")):
        data.load_torchvision("FashionMNIST", tmp_path)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        data.load_torchvision("CIFAR10", tmp_path)


def test_unknown_torchvision_dataset_lists_the_choices(tmp_path):
    with pytest.raises(ValueError, match="available: MNIST, FashionMNIST, KMNIST, CIFAR10"):
        data.load_torchvision("SVHN", tmp_path)
