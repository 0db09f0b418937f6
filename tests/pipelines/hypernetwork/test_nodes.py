import pytest
import torch

from hyperforget.bench.common import stage_parameters
from hyperforget.pipelines.hypernetwork import nodes

MANIFEST = {"num_classes": 4, "input_shape": [1, 28, 28]}
MODEL = {"kind": "mlp", "hidden": [10]}


class Captured(Exception):
    """Raised by the stand-in trainer: the test needs only the network it was handed."""


def initial_weights(monkeypatch, hypernetwork, global_seed: int) -> dict[str, torch.Tensor]:
    def capture(net, *args, **kwargs):
        raise Captured({k: v.clone() for k, v in net.state_dict().items()})

    monkeypatch.setattr(nodes, "train_hypernetwork", capture)
    torch.manual_seed(global_seed)  # what earlier nodes may have left in the global generator
    with pytest.raises(Captured) as caught:
        nodes.train_dihyfo(
            "dihyfo1", {"scale": 1.0, "train": None}, MANIFEST, MODEL, hypernetwork, "cpu"
        )
    return caught.value.args[0]


def test_initial_weights_follow_the_configured_seed_only(monkeypatch):
    hypernetwork = stage_parameters("hypernetwork", "test")
    first = initial_weights(monkeypatch, hypernetwork, global_seed=1)
    again = initial_weights(monkeypatch, hypernetwork, global_seed=2)
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    other = initial_weights(monkeypatch, {**hypernetwork, "seed": 7}, global_seed=1)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_both_variants_trained_and_returned_in_catalog_order(monkeypatch):
    def trained(variant, **shared):
        assert shared["device"] == "cpu"
        return ({"raw": variant}, {"ema": variant}, {"metrics": variant})

    monkeypatch.setattr(nodes, "train_dihyfo", trained)
    local = {**stage_parameters("compute", "test"), "backend": "local"}
    outputs = nodes.train_dihyfos({}, MANIFEST, MODEL, {}, "cpu", local)
    assert outputs == (
        {"raw": "dihyfo1"},
        {"ema": "dihyfo1"},
        {"metrics": "dihyfo1"},
        {"raw": "dihyfo2"},
        {"ema": "dihyfo2"},
        {"metrics": "dihyfo2"},
    )
