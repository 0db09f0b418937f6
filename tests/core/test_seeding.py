import pytest
import torch

from hyperforget.core.seeding import replica_seeds, seeded


def test_seeded_draws_depend_on_the_seed_only_and_restore_the_global_generator():
    torch.manual_seed(1)
    with seeded(3):
        first = torch.rand(4)
    after = torch.rand(4)
    torch.manual_seed(2)
    with seeded(3):
        again = torch.rand(4)
    with seeded(4):
        other = torch.rand(4)
    torch.manual_seed(1)
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(after, torch.rand(4))  # as if the seeded block had not run


def test_replica_seeds_interleave_groups_and_refuse_taken_seeds():
    replicas = {"runs": 2, "seed": 10}
    assert replica_seeds(replicas, "runs", 3, {0, 1}, "the originals", "x.replicas") == [
        [10, 13],
        [11, 14],
        [12, 15],
    ]
    with pytest.raises(ValueError, match=r"x.replicas.seed gives replica seeds \[11, 15\] that m"):
        replica_seeds(replicas, "runs", 3, {11, 15, 99}, "m", "x.replicas")
    with pytest.raises(ValueError, match="x.replicas.runs must be 0 or more"):
        replica_seeds({"runs": -1, "seed": 10}, "runs", 3, set(), "m", "x.replicas")
