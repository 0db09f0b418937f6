import pytest
import torch

from hyperforget.core.flat_params import (
    ParamLayout,
    batched_forward,
    flatten_module,
    load_flat_into,
)
from hyperforget.core.targets import build_target


def make_target(seed: int = 0):
    torch.manual_seed(seed)
    return build_target(input_shape=(1, 28, 28), num_classes=10, hidden=(10,))


def test_default_target_is_gpts_7960_parameter_mlp():
    layout = ParamLayout.from_module(make_target())
    assert layout.num_params == 7960
    assert layout.names == ("layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias")


def test_vector_module_round_trip_preserves_function():
    source, target = make_target(0), make_target(1)
    vector = flatten_module(source)
    assert vector.shape == (7960,) and vector.dtype == torch.float32
    load_flat_into(target, vector)
    images = torch.randn(5, 1, 28, 28)
    assert torch.equal(source(images), target(images))
    assert torch.equal(flatten_module(target), vector)


def test_state_dict_round_trip():
    module = make_target()
    layout = ParamLayout.from_module(module)
    vector = flatten_module(module)
    state = layout.unflatten(vector)
    for name, param in module.named_parameters():
        assert torch.equal(state[name], param.detach())
    assert torch.equal(layout.flatten(state), vector)


def test_batched_round_trip_keeps_leading_dims():
    layout = ParamLayout.from_module(make_target())
    batch = torch.randn(4, 3, layout.num_params)
    named = layout.unflatten(batch)
    assert named["layers.0.weight"].shape == (4, 3, 10, 784)
    assert torch.equal(layout.flatten(named), batch)


def test_batched_forward_matches_one_network_at_a_time():
    module = make_target()
    batch = torch.stack([flatten_module(make_target(seed)) for seed in range(3)])
    images = torch.randn(6, 1, 28, 28)
    outputs = batched_forward(module, batch, images)
    assert outputs.shape == (3, 6, 10)
    for i in range(3):
        single = load_flat_into(make_target(), batch[i])
        torch.testing.assert_close(outputs[i], single(images))


def test_wrong_vector_length_is_a_clear_error():
    module = make_target()
    with pytest.raises(ValueError, match=r"needs \[\.\.\., 7960\]"):
        load_flat_into(module, torch.zeros(100))


def test_mismatched_parameter_shapes_are_named():
    layout = ParamLayout.from_module(make_target())
    state = layout.unflatten(torch.zeros(layout.num_params))
    state["layers.2.bias"] = torch.zeros(3)
    with pytest.raises(ValueError, match="'layers.2.bias' has shape"):
        layout.flatten(state)


def test_hidden_widths_are_configurable():
    module = build_target(input_shape=(3, 8, 8), num_classes=4, hidden=(16, 8))
    assert ParamLayout.from_module(module).num_params == 192 * 16 + 16 + 16 * 8 + 8 + 8 * 4 + 4
