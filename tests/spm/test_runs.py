import pytest
import torch

from hyperforget.spm.runs import (
    oracle_replica_seeds,
    train_oracle_replicas,
    train_oracles,
)
from tests.recipes import SPM

MANIFEST = {"input_shape": [1, 4, 4], "num_classes": 3}


def spm_params(**replicas):
    return {
        **SPM,
        "seed": 0,
        "oracle_seed": 10,
        "oracle_replicas": {"runs_per_scenario": 2, "seed": 20, **replicas},
        "hidden": [8],
        "embed_dim": 4,
        "epochs": 1,
        "batch_size": 8,
        "support_per_class": 2,
    }


def test_replica_seeds_are_held_out_and_distinct():
    assert oracle_replica_seeds(spm_params(), 3) == [[20, 23], [21, 24], [22, 25]]
    assert oracle_replica_seeds(spm_params(runs_per_scenario=0), 2) == [[], []]
    assert oracle_replica_seeds({"seed": 0, "oracle_seed": 10}, 2) == [[], []]  # not configured


@pytest.mark.parametrize(
    ("replicas", "message"),
    [
        ({"seed": 9}, r"replica seeds \[10, 11, 12\] that the SPM or its oracles already use"),
        ({"seed": 0}, r"replica seeds \[0\] that the SPM"),
        ({"runs_per_scenario": -1}, "runs_per_scenario must be 0 or more"),
    ],
)
def test_bad_replica_settings_are_refused(replicas, message):
    with pytest.raises(ValueError, match=message):
        oracle_replica_seeds(spm_params(**replicas), 3)


def test_replicas_are_retrained_without_the_deleted_samples_with_their_own_seeds():
    generator = torch.Generator().manual_seed(0)
    train_split = {
        "images": torch.randn(48, 1, 4, 4, generator=generator),
        "labels": torch.arange(48) % 3,
    }
    deletions = [
        {"name": "0", "classes": [0], "sample_ids": list(range(0, 48, 3))},
        {"name": "random10", "classes": [], "sample_ids": [1, 2, 4, 5, 7]},
    ]
    params = spm_params()
    global_state = torch.random.get_rng_state()
    oracles = train_oracles(train_split, MANIFEST, deletions, params, "cpu")
    replicas = train_oracle_replicas(train_split, MANIFEST, deletions, params, "cpu")
    assert torch.equal(torch.random.get_rng_state(), global_state)  # seeded, nothing else drawn
    num_params = oracles["params"].shape[1]
    assert oracles["params"].shape == (2, num_params) and oracles["seconds"].shape == (2,)
    assert replicas["params"].shape == (2, 2, num_params)
    assert replicas["seconds"].shape == (2, 2)
    # every retraining has its own seed, so no two of them share their weights
    every = torch.cat([oracles["params"], replicas["params"].flatten(0, 1)])
    assert torch.cdist(every, every).fill_diagonal_(1.0).min() > 0
    none = train_oracle_replicas(
        train_split, MANIFEST, deletions, spm_params(runs_per_scenario=0), "cpu"
    )
    assert torch.equal(torch.random.get_rng_state(), global_state)
    assert none["params"].shape == (2, 0, num_params) and none["seconds"].shape == (2, 0)
