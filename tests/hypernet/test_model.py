import pytest
import torch

from hyperforget.core.flat_params import ParamLayout
from hyperforget.core.targets import build_target
from hyperforget.datasets import SafetensorsDataset
from hyperforget.hypernet.model import (
    DiHyFo,
    DiHyFoConfig,
    ParamChunks,
    PerChunkLinear,
    load_dihyfo,
)
from tests.recipes import denoiser

SMALL = denoiser(width=16, depth=1, heads=2, chunk_size=20, num_frequencies=4)


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


def test_class_row_chunks_hold_one_class_each(layout):
    # layout: layers.0 (5x16 + 5), layers.2 (3x5 + 3); chunk k of the last layer = row k, bias k
    chunks = ParamChunks(layout, chunk_size=20, num_classes=3)
    flat = torch.randn(2, layout.num_params)
    tokens = chunks.split(flat)
    assert torch.equal(chunks.merge(tokens), flat)
    rows = range(chunks.class_row_start, chunks.class_row_start + 3)
    assert [chunks.lengths[c] for c in rows] == [6, 6, 6]
    weight, bias = flat[:, -18:-3].view(2, 3, 5), flat[:, -3:]
    for k, c in enumerate(rows):
        assert torch.equal(tokens[:, c, :5], weight[:, k])
        assert torch.equal(tokens[:, c, 5], bias[:, k])
        assert torch.all(tokens[:, c, 6:] == 0)


def test_class_rows_need_a_classifier_layer(layout):
    with pytest.raises(ValueError, match="class_rows: false"):
        ParamChunks(layout, chunk_size=20, num_classes=4)


def test_class_rows_share_one_map_and_read_their_condition(layout):
    """Changing class k's target loss changes the prediction (given the same noise), and the
    class rows share their projections, so the rule learned for one class serves all."""
    net = DiHyFo(layout, 3, DiHyFoConfig(**{**SMALL.__dict__, "variant": "dihyfo2"}))
    torch.nn.init.normal_(net.decoder.weight)
    owners = [net.noisy_in.owner(c) for c in range(net.chunks.num_chunks)]
    assert owners == sorted(owners) and net.noisy_in.weight.shape[0] == len(set(owners))
    assert len({owners[c] for c in net.class_rows}) == 1
    noisy, t = torch.randn(1, layout.num_params), torch.tensor([10])
    low, high = torch.full((1, 3), 0.1), torch.tensor([[0.1, 20.0, 0.1]])
    assert not torch.allclose(net(noisy, t, low), net(noisy, t, high))


def test_tied_rows_equal_the_padded_full_map(layout):
    """Skipping the padding of class rows changes nothing: it is exact, only cheaper."""
    rows = range(4, 7)
    fan_ins = [20, 20, 20, 20, 6, 6, 6]
    encoder = PerChunkLinear(fan_ins, 20, 8, tied=rows, tied_in=6)
    decoder = PerChunkLinear(fan_ins, 8, 20, tied=rows, tied_out=6)
    x = torch.randn(3, 7, 20)
    x[:, rows, 6:] = 0  # class rows are zero-padded chunks
    full_encoder = (
        torch.einsum("ncd,cde->nce", x, encoder.weight[[encoder.owner(c) for c in range(7)]])
        + encoder.bias[[encoder.owner(c) for c in range(7)]]
    )
    torch.testing.assert_close(encoder(x), full_encoder)
    h = torch.randn(3, 7, 8)
    out = decoder(h)
    full = (
        torch.einsum("ncd,cde->nce", h, decoder.weight[[decoder.owner(c) for c in range(7)]])
        + decoder.bias[[decoder.owner(c) for c in range(7)]]
    )
    torch.testing.assert_close(out[:, :4], full[:, :4])
    torch.testing.assert_close(out[:, rows, :6], full[:, rows, :6])
    assert torch.all(out[:, rows, 6:] == 0)


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
    with pytest.raises(
        ValueError, match="DiHyFoConfig.variant must be one of 'dihyfo1', 'dihyfo2'"
    ):
        denoiser("dihyfo3")
