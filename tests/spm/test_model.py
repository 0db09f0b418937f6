"""The semi-parametric model: deletion from the memory, and its episodic training."""

from __future__ import annotations

import pytest
import torch

from hyperforget.spm.memory import Memory, build_memory, predict
from hyperforget.spm.model import SemiParametric, build_encoder
from hyperforget.spm.train import episode_log_probs, support_indices, train_spm, train_spm_batch
from tests.recipes import spm_recipe


@pytest.fixture
def model_and_memory() -> tuple[SemiParametric, Memory, torch.Tensor]:
    torch.manual_seed(0)
    model = SemiParametric((1, 3, 4), hidden=(16,), embed_dim=8).eval()
    images = torch.randn(60, 1, 3, 4)
    labels = torch.arange(3).repeat(20)
    memory = build_memory(model, images, labels, torch.arange(100, 160), num_classes=3)
    return model, memory, torch.randn(10, 1, 3, 4)


@pytest.mark.parametrize("mode", ["c", "r"])
def test_deleting_a_class_removes_exactly_its_probability_mass(model_and_memory, mode):
    model, memory, queries = model_and_memory
    before = predict(model, memory, queries, mode, neighbours=60).exp()
    after = predict(model, memory.delete_classes([1]), queries, mode, neighbours=60).exp()
    assert (after[:, 1] == 0).all()
    expected = before / (1 - before[:, 1:2])
    torch.testing.assert_close(after[:, [0, 2]], expected[:, [0, 2]], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("mode", ["c", "r"])
def test_deleting_then_restoring_samples_restores_the_predictions(model_and_memory, mode):
    model, memory, queries = model_and_memory
    ids = torch.tensor([100, 101, 105, 130, 159])
    restored = memory.delete(ids).restore(ids)
    assert torch.equal(restored.alive, memory.alive)
    torch.testing.assert_close(
        predict(model, restored, queries, mode), predict(model, memory, queries, mode)
    )
    assert not torch.allclose(
        predict(model, memory.delete(ids), queries, mode),
        predict(model, memory, queries, mode),
    )


def test_deletion_never_changes_the_memory_it_is_applied_to(model_and_memory):
    _, memory, _ = model_and_memory
    alive, sums = memory.alive.clone(), memory.class_sums.clone()
    deleted = memory.delete(torch.tensor([100, 120]))
    assert (~deleted.alive).sum() == 2
    assert torch.equal(memory.alive, alive) and torch.equal(memory.class_sums, sums)


def test_unknown_ids_or_deleting_everything_fail_and_change_nothing(model_and_memory):
    _, memory, _ = model_and_memory
    alive = memory.alive.clone()
    with pytest.raises(ValueError, match=r"Sample ids \[7, 999\] are not in the SPM memory"):
        memory.delete(torch.tensor([100, 7, 999]))
    with pytest.raises(ValueError, match="would empty the SPM memory"):
        memory.delete(torch.arange(100, 160))
    assert torch.equal(memory.alive, alive)


def test_the_query_is_never_in_its_own_support_set():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(5).repeat(40)
    for _ in range(50):
        query = torch.randperm(200, generator=generator)[:64]
        support = support_indices(query, labels, per_class=8, generator=generator)
        assert not torch.isin(support, query).any()
        assert torch.bincount(labels[support], minlength=5).tolist() == [8] * 5


def test_training_lowers_the_episodic_loss_on_separable_data():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(3).repeat(40)
    images = (torch.eye(3)[labels] * 3 + 0.3 * torch.randn(120, 3, generator=generator)).view(
        120, 1, 1, 3
    )
    torch.manual_seed(0)
    model = SemiParametric((1, 1, 3), (16,), 8)
    config = spm_recipe(epochs=20, batch_size=32, support_per_class=4, lr=1e-2)
    train_spm(model, images, labels, 3, config, generator)
    memory = build_memory(model, images, labels, torch.arange(120), 3)
    accuracy = (predict(model, memory, images, "c").argmax(1) == labels).float().mean()
    assert accuracy > 0.95


@pytest.mark.parametrize(
    ("kind", "shape"), [("mlp", (1, 28, 28)), ("cnn", (3, 32, 32)), ("resnet18", (1, 28, 28))]
)
def test_every_encoder_maps_images_to_embeddings(kind, shape):
    encoder = build_encoder(shape, (32,), 16, kind)
    assert encoder(torch.randn(2, *shape)).shape == (2, 16)


def test_an_unknown_encoder_is_refused():
    with pytest.raises(ValueError, match="Unknown SPM encoder 'vit'"):
        build_encoder((1, 28, 28), (32,), 16, "vit")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mode", "x", "SPMConfig.mode must be one of 'c', 'r'"),
        ("encoder", "vit", "SPMConfig.encoder must be one of"),
    ],
)
def test_a_bad_recipe_is_refused_before_training(field, value, message):
    with pytest.raises(ValueError, match=message):
        spm_recipe(**{field: value})


def test_min_steps_raises_the_epochs_of_small_data_only():
    config = spm_recipe(epochs=2, batch_size=100, min_steps=50)
    assert config.epochs_for(1000) == 5  # 10 steps an epoch: 5 epochs give 50
    assert config.epochs_for(100_000) == 2  # 2 epochs are already 2,000 steps
    assert spm_recipe(epochs=2, batch_size=100).epochs_for(10) == 2


def _separable(n: int = 120, classes: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(classes).repeat(n // classes)
    images = torch.eye(classes)[labels] * 3 + 0.3 * torch.randn(n, classes, generator=generator)
    return images.view(n, 1, 1, classes), labels


def _fresh_models(count: int) -> list[SemiParametric]:
    models = []
    for seed in range(count):
        torch.manual_seed(seed)
        models.append(SemiParametric((1, 1, 3), (16,), 8))
    return models


@pytest.mark.parametrize("mode", ["c", "r"])
def test_spms_trained_together_are_the_spms_trained_alone(mode):
    images, labels = _separable()
    config = spm_recipe(epochs=4, batch_size=32, support_per_class=4, lr=1e-2, mode=mode)
    alone = [
        train_spm(m, images, labels, 3, config, torch.Generator().manual_seed(s))
        for s, m in enumerate(_fresh_models(3))
    ]
    generators = [torch.Generator().manual_seed(s) for s in range(3)]
    together = train_spm_batch(_fresh_models(3), images, labels, 3, config, generators)
    for one, batched in zip(alone, together, strict=True):
        for p, q in zip(one.parameters(), batched.parameters(), strict=True):
            assert torch.allclose(p, q, atol=1e-4), (mode, (p - q).abs().max())
    assert not torch.allclose(alone[0].query.weight, alone[1].query.weight)


def test_a_padded_support_entry_changes_nothing():
    torch.manual_seed(0)
    model = SemiParametric((1, 1, 3), (16,), 8)
    queries, support = torch.randn(5, 1, 1, 3), torch.randn(6, 1, 1, 3)
    support_labels = torch.tensor([0, 0, 1, 1, 2, 2])
    padded_labels = torch.cat([support_labels, torch.tensor([-1])])
    padded = torch.cat([support, torch.randn(1, 1, 1, 3)])
    for mode in ("c", "r"):
        plain = episode_log_probs(model, queries, support, support_labels, 3, mode)
        with_pad = episode_log_probs(model, queries, padded, padded_labels, 3, mode)
        assert torch.allclose(plain, with_pad, atol=1e-6)
