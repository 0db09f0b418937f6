import pytest
import torch

from hyperforget.core.flat_params import ParamLayout, batched_forward
from hyperforget.core.targets import build_target
from hyperforget.hypernet.permutation import (
    align_hidden_units,
    hidden_unit_permutation,
    nearest_distance,
)


@pytest.fixture
def target():
    return build_target((1, 4, 4), 3, (5, 4))


def test_permutation_augmentation_keeps_the_network_function(target):
    layout = ParamLayout.from_module(target)
    params = torch.randn(3, layout.num_params)
    index = hidden_unit_permutation(layout, 3, torch.Generator().manual_seed(0))
    permuted = params.gather(1, index)
    assert not torch.equal(permuted, params)
    images = torch.randn(6, 1, 4, 4)
    torch.testing.assert_close(
        batched_forward(target, permuted, images), batched_forward(target, params, images)
    )


def test_alignment_undoes_a_permutation_and_keeps_the_function(target):
    layout = ParamLayout.from_module(target)
    reference = torch.randn(layout.num_params)
    index = hidden_unit_permutation(layout, 4, torch.Generator().manual_seed(1))
    shuffled = reference.expand(4, -1).gather(1, index)
    noisy = shuffled + 0.01 * torch.randn_like(shuffled)
    aligned = align_hidden_units(noisy, layout, reference)
    # every copy back in the reference's unit order, up to its noise
    assert (aligned - reference).abs().max() < 0.1
    assert (shuffled - reference).abs().max() > 0.5
    images = torch.randn(6, 1, 4, 4)
    torch.testing.assert_close(
        batched_forward(target, aligned, images), batched_forward(target, noisy, images)
    )


def test_nearest_distance_sees_through_unit_order(target):
    layout = ParamLayout.from_module(target)
    pool = torch.randn(5, layout.num_params)
    index = hidden_unit_permutation(layout, 2, torch.Generator().manual_seed(2))
    copies = pool[[1, 3]].gather(1, index)
    fresh = torch.randn(2, layout.num_params)
    assert nearest_distance(copies, pool, layout).max() < 1e-6
    assert nearest_distance(fresh, pool, layout).min() > 0.5
