import pytest
import torch

from hyperforget.datasets import SafetensorsDataset
from hyperforget.dihyfo import DiHyFo, DiHyFoConfig, ParamChunks, load_dihyfo
from hyperforget.flat_params import ParamLayout
from hyperforget.targets import build_target

SMALL = DiHyFoConfig(
    variant="dihyfo1", width=16, depth=1, heads=2, chunk_size=20, num_frequencies=4
)


@pytest.fixture
def layout():
    return ParamLayout.from_module(build_target((1, 4, 4), 3, (5,)))


def test_chunks_round_trip(layout):
    chunks = ParamChunks(layout, chunk_size=20)
    flat = torch.randn(4, layout.num_params)
    tokens = chunks.split(flat)
    assert tokens.shape == (4, chunks.num_chunks, 20)
    assert torch.equal(chunks.merge(tokens), flat)
    # chunks never straddle two parameter tensors
    assert chunks.lengths == [20, 20, 20, 20, 5, 15, 3]


def test_untrained_dihyfo1_returns_its_input_parameters(layout):
    net = DiHyFo(layout, 3, SMALL)
    current = torch.randn(2, layout.num_params)
    out = net(
        torch.randn_like(current),
        torch.tensor([3, 900]),
        torch.rand(2, 3),
        current,
        torch.rand(2, 3),
    )
    assert torch.equal(out, current)


def test_dihyfo2_needs_only_the_target_losses(layout):
    net = DiHyFo(layout, 3, DiHyFoConfig(**{**SMALL.__dict__, "variant": "dihyfo2"}))
    out = net(torch.randn(2, layout.num_params), torch.tensor([0, 5]), torch.rand(2, 3))
    assert out.shape == (2, layout.num_params)


def test_dihyfo1_without_current_parameters_is_an_error(layout):
    with pytest.raises(ValueError, match="needs the current parameters"):
        DiHyFo(layout, 3, SMALL)(
            torch.randn(1, layout.num_params), torch.tensor([1]), torch.rand(1, 3)
        )


def test_loading_weights_of_another_configuration_names_the_file(layout, tmp_path):
    path = tmp_path / "dihyfo1.safetensors"
    net = DiHyFo(layout, 3, SMALL)
    SafetensorsDataset(filepath=str(path)).save(
        {**net.state_dict(), "__metadata__": net.metadata()}
    )
    weights = SafetensorsDataset(filepath=str(path)).load()
    assert isinstance(load_dihyfo(weights, layout, 3, SMALL), DiHyFo)
    wider = DiHyFoConfig(**{**SMALL.__dict__, "width": 32})
    with pytest.raises(ValueError, match=rf"{path}.*was written for dihyfo_config"):
        load_dihyfo(weights, layout, 3, wider)


def test_corrupt_weights_name_the_file(tmp_path):
    path = tmp_path / "dihyfo1.safetensors"
    path.write_bytes(b"not safetensors")
    with pytest.raises(Exception, match="dihyfo1.safetensors' is not a readable safetensors"):
        SafetensorsDataset(filepath=str(path)).load()


def test_unknown_variant():
    with pytest.raises(ValueError, match="Unknown DiHyFo variant"):
        DiHyFoConfig(variant="dihyfo3")
