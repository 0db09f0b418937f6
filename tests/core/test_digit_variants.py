import pytest
import torch

from hyperforget.core import data, digit_variants, sources


@pytest.fixture
def digits() -> data.LabelledImages:
    """Ten 28x28 "digits": a bright 6x6 square in the middle, labels 0-9, the last two the
    official test part."""
    images = torch.zeros(10, 1, 28, 28, dtype=torch.uint8)
    images[:, :, 11:17, 11:17] = 200
    official_test = torch.tensor([False] * 8 + [True] * 2)
    names = [str(d) for d in range(10)]
    return data.LabelledImages(images, torch.arange(10), names, "MNIST", official_test)


def test_every_source_is_written_in_torchvision_layout_and_read_back(tmp_path, digits):
    for source in digit_variants.SOURCES:
        root = digit_variants.build_source(source, digits, tmp_path / source, seed=0)
        read = sources.load_torchvision("MNIST", root)
        assert read.images.shape[1:] == (1, 28, 28) and read.images.dtype == torch.uint8
        if source != "sklearn_digits":
            assert read.official_test.tolist() == digits.official_test.tolist()
            assert torch.equal(read.labels, digits.labels)


def test_the_transforms_do_what_they_say(digits):
    generator = torch.Generator().manual_seed(0)
    ink = digits.images.float().sum()
    assert torch.equal(digit_variants.inverted(digits.images, generator), 255 - digits.images)
    thick = digit_variants.thick(digits.images, generator)
    assert (thick >= digits.images).all() and (thick > 0).sum() == 10 * 8 * 8
    shifted = digit_variants.shifted(digits.images, generator)
    assert shifted.float().sum() == ink  # whole-pixel moves inside the frame keep every pixel
    assert not torch.equal(shifted, digits.images)
    rotated = digit_variants.rotated(digits.images, generator)
    assert not torch.equal(rotated, digits.images)
    assert rotated.float().sum().item() == pytest.approx(ink.item(), rel=0.1)


def test_sklearn_digits_are_upscaled_with_a_quarter_held_out():
    upscaled = digit_variants.sklearn_digits(seed=0)
    assert upscaled.images.shape == (1797, 1, 28, 28) and upscaled.images.max() > 200
    assert upscaled.official_test.sum() == 449
    assert upscaled.labels.bincount().tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_an_unknown_source_is_named(tmp_path, digits):
    with pytest.raises(ValueError, match="Unknown digit source 'mnist_upside_down'; choose from"):
        digit_variants.build_source("mnist_upside_down", digits, tmp_path)
