import pytest
import torch

from hyperforget.core.flat_params import flatten_module
from hyperforget.core.targets import build_target
from hyperforget.zoo.training import (
    AscentConfig,
    batch_schedule,
    train_batched,
    train_single,
)
from tests.recipes import sgd


def build():
    return build_target((1, 4, 4), 3, (5,))


@pytest.fixture
def toy_data():
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(60, 1, 4, 4, generator=generator)
    labels = torch.arange(3).repeat(20)
    return images, labels


def inits(seeds):
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        out.append(flatten_module(build()))
    return torch.stack(out)


def test_batch_schedule_is_seeded_per_run_and_stays_in_each_index_set():
    sets = [torch.arange(0, 30), torch.arange(30, 60)]
    schedule = batch_schedule(sets, [1, 2], batch_size=8, steps=10)
    assert schedule.shape == (2, 10, 8)
    assert schedule[0].max() < 30 and schedule[1].min() >= 30
    assert torch.equal(schedule, batch_schedule(sets, [1, 2], 8, 10))
    # drop_last: each epoch of 30 samples gives 3 batches without repeats
    assert len(set(schedule[0, :3].flatten().tolist())) == 24


def test_batch_larger_than_the_data_is_a_clear_error():
    with pytest.raises(ValueError, match="fewer than the batch size"):
        batch_schedule([torch.arange(5)], [0], batch_size=8, steps=1)


@pytest.mark.parametrize("input_dtype", ["float32", "bfloat16"])
def test_network_trained_in_the_batch_equals_the_same_network_trained_alone(toy_data, input_dtype):
    images, labels = toy_data
    config = sgd(batch_size=8, input_dtype=input_dtype)
    seeds = [3, 4, 5]
    schedule = batch_schedule([torch.arange(60)] * 3, seeds, config.batch_size, steps=40)
    batched = train_batched(build(), inits(seeds), images, labels, schedule, config, [0, 20, 40])
    for r in range(3):
        alone = train_single(
            build(), inits(seeds)[r], images, labels, schedule[r], config, [0, 20, 40]
        )
        torch.testing.assert_close(batched[r], alone, rtol=1e-4, atol=1e-5)


def test_training_reduces_the_loss(toy_data):
    images, labels = toy_data
    config = sgd(batch_size=12)
    schedule = batch_schedule([torch.arange(60)] * 2, [0, 1], 12, steps=60)
    ckpts = train_batched(build(), inits([0, 1]), images, labels, schedule, config, [0, 60])
    module = build()
    from hyperforget.core.per_class import evaluate_per_class

    stats = evaluate_per_class(module, ckpts.flatten(0, 1), images, labels, 3)
    first, last = stats.total_loss.view(2, 2).unbind(1)
    assert (last < first).all()


def test_bounded_ascent_raises_the_forget_loss_only(toy_data):
    images, labels = toy_data
    config = sgd(batch_size=8, lr=0.05)
    retain = torch.nonzero(labels != 0).flatten()
    forget = torch.nonzero(labels == 0).flatten()
    steps = 60
    start = train_batched(
        build(),
        inits([0]),
        images,
        labels,
        batch_schedule([torch.arange(60)], [0], 8, steps),
        config,
        [steps],
    )[:, -1]
    ckpts = train_batched(
        build(),
        start,
        images,
        labels,
        batch_schedule([retain], [1], 8, steps),
        config,
        [0, steps],
        forget_batches=batch_schedule([forget], [2], 8, steps),
        ascent=AscentConfig(weight=1.0, cap=3.0),
    )
    from hyperforget.core.per_class import evaluate_per_class

    stats = evaluate_per_class(build(), ckpts[0], images, labels, 3)
    assert stats.loss[1, 0] > stats.loss[0, 0] + 1.0
    assert stats.acc[1, 0] < 0.1


def test_bfloat16_inputs_only_lower_the_first_multiply(toy_data):
    images, _ = toy_data
    module = build()
    exact = module(images)
    low = module(images.to(torch.bfloat16))
    assert low.dtype == torch.float32  # everything after the first multiply stays float32
    assert not torch.equal(low, exact)
    torch.testing.assert_close(low, exact, rtol=0, atol=0.05)
    params = {n: p.detach()[None] for n, p in module.named_parameters()}
    stacked = module.forward_stacked(params, images.to(torch.bfloat16)[None])
    torch.testing.assert_close(stacked[0], low)


def test_unknown_input_dtype_is_a_clear_error():
    with pytest.raises(
        ValueError, match="SGDConfig.input_dtype must be one of 'float32', 'bfloat16'"
    ):
        sgd(input_dtype="float16")
