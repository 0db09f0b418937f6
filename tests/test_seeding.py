import torch

from hyperforget.seeding import seeded


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
