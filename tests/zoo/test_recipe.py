import functools
import json

import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from hyperforget.core.config import ConfigError
from hyperforget.core.targets import target_builder
from hyperforget.pipelines.model_zoo import nodes
from hyperforget.zoo import recipe
from hyperforget.zoo.training import SGDConfig
from tests.recipes import SGD

MLP = {"kind": "mlp", "hidden": [10]}
MANIFEST = {"num_classes": 10, "input_shape": [1, 28, 28]}
COMPETENCE = {"max_gap": 10.0, "on_poor": "stop", "reference_max_train": 10000}
# G.pt's MNIST recipe as the default trains it: 10 epochs, at least 150 steps
GPT_MNIST = SGDConfig.from_params({**SGD, "epochs": 10, "min_steps": 150}, "model_zoo.training")


@functools.cache
def upscaled_digits() -> tuple[
    tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]
]:
    """Digits the recipe was never tuned on: scikit-learn's 1,797 8x8 digits, upscaled to 28x28
    and normalised with MNIST's statistics (what a user who only changed the data source got
    before normalisation: null became the default, and gets who sets MNIST's): brighter and
    thicker than MNIST, so G.pt's learning rate leaves the MLP near chance."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32)[:, None] / 16
    images = F.interpolate(images, size=(28, 28), mode="bilinear", align_corners=False)
    images = (images - 0.1307) / 0.3081
    labels = torch.tensor(digits.target)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    train, val = order[:1400], order[1400:]
    return (images[train], labels[train]), (images[val], labels[val])


def test_on_data_where_the_default_rate_fails_the_chosen_rate_trains_a_competent_model():
    train, val = upscaled_digits()
    build = target_builder(MLP, MANIFEST)
    reference = recipe.reference_accuracy(train, val, 10000, 0)
    search = recipe.RecipeSearch(lrs=(0.1, 0.03, 0.01, 0.003), seeds=2, seed=900, tolerance=1.0)
    choice = recipe.search_learning_rate(build, train, val, GPT_MNIST, search, reference, 10)
    per_lr = choice.per_lr
    competence = recipe.Competence.from_params(COMPETENCE, "model_zoo.competence")
    assert reference > 90
    # the default rate fails here: far below the reference, the run would stop on it
    assert competence.is_poor(per_lr[0.1], reference)
    assert choice.sgd.lr != 0.1 and choice.configured_lr == 0.1
    assert per_lr[choice.sgd.lr] == per_lr.max()
    assert not competence.is_poor(per_lr[choice.sgd.lr], reference)
    assert choice.sgd.epochs == GPT_MNIST.epochs and choice.sgd.momentum == GPT_MNIST.momentum
    assert len(choice.candidates) == 4 * 2


def test_the_configured_rate_is_kept_unless_another_beats_it_by_more_than_the_tolerance():
    train, val = upscaled_digits()
    build = target_builder(MLP, MANIFEST)
    search = recipe.RecipeSearch(lrs=(0.03,), seeds=1, seed=900, tolerance=100.0)
    # 0.1 fails on this data, but a tolerance of 100 points keeps the configured rate
    kept = recipe.search_learning_rate(build, train, val, GPT_MNIST, search, 97.0, 10)
    assert kept.sgd.lr == 0.1
    assert sorted(kept.candidates["lr"]) == [0.03, 0.1]  # the configured rate always runs


def test_the_recipe_saved_for_the_run_is_the_chosen_one():
    train, val = upscaled_digits()
    search = {"lrs": [0.1, 0.03], "seeds": 1, "seed": 900, "tolerance": 1.0}
    model_zoo = {
        "training": {**SGD, "epochs": 10, "min_steps": 150},
        "recipe_search": search,
        "competence": COMPETENCE,
    }
    split = [{"images": x, "labels": y} for x, y in (train, val)]
    saved, candidates, metrics = nodes.select_recipe(*split, MANIFEST, MLP, model_zoo, "cpu")
    assert saved["lr"] == 0.03 and saved["training"]["lr"] == 0.03
    assert saved["configured_lr"] == 0.1
    assert json.loads(json.dumps(saved)) == saved  # a JSON dataset
    assert set(candidates["lr"]) == {0.1, 0.03}
    assert metrics["recipe.lr"]["value"] == 0.03
    assert nodes.chosen_training(model_zoo, saved)["training"]["lr"] == 0.03


def test_when_no_rate_is_competent_the_run_stops_before_the_zoo_naming_both_numbers():
    train, val = upscaled_digits()
    model_zoo = {
        "training": {**SGD, "lr": 0.1, "epochs": 10, "min_steps": 150},
        "recipe_search": {"lrs": [0.1], "seeds": 1, "seed": 900, "tolerance": 1.0},
        "competence": COMPETENCE,
    }
    split = [{"images": x, "labels": y} for x, y in (train, val)]
    with pytest.raises(
        ValueError,
        match=r"reaches \d+\.\d% val accuracy, \d+\.\d points below a "
        r"logistic regression on the same pixels \(9\d\.\d%",
    ) as refused:
        nodes.select_recipe(*split, MANIFEST, MLP, model_zoo, "cpu")
    assert "model_zoo.recipe_search.lrs" in str(refused.value)
    assert "model_zoo.competence.on_poor=mark" in str(refused.value)
    marked = {**model_zoo, "competence": {**COMPETENCE, "on_poor": "mark"}}
    saved, _, _ = nodes.select_recipe(*split, MANIFEST, MLP, marked, "cpu")
    assert saved["lr"] == 0.1


def test_a_poor_original_stops_the_run_or_is_marked_in_its_weights():
    train, val = upscaled_digits()
    split = [{"images": x, "labels": y} for x, y in (train, val)]
    manifest = {**MANIFEST}
    plan = {"reference_seeds": list(range(11)), "after_classes": []}
    chosen = {"training": {**SGD, "epochs": 2, "min_steps": 20}, "reference_val_accuracy": 99.0}
    with pytest.raises(ValueError, match="The original reaches .* below a logistic regression"):
        nodes.train_reference_models(
            split[0], manifest, plan, MLP, chosen, "cpu", split[1], COMPETENCE
        )
    marked = {**COMPETENCE, "on_poor": "mark"}
    original, _, metrics = nodes.train_reference_models(
        split[0], manifest, plan, MLP, chosen, "cpu", split[1], marked
    )
    assert recipe.original_is_poor(original) is True
    assert original["reference_val_accuracy"].item() == 99.0
    assert original["val_accuracy"].item() < 89.0
    assert metrics["competence.poor_original"]["value"] == 1.0
    competent = {**chosen, "reference_val_accuracy": 0.0}
    original, _, _ = nodes.train_reference_models(
        split[0], manifest, plan, MLP, competent, "cpu", split[1], COMPETENCE
    )
    assert recipe.original_is_poor(original) is False
    assert recipe.original_is_poor({"params": original["params"]}) is None


def test_stalled_runs_are_counted_per_regime_on_the_classes_they_keep():
    def final(run_id, regime, forgotten, accuracies):
        row = {"run_id": run_id, "regime": regime, "forget_classes": forgotten, "step": 10}
        return {**row, **{f"val_acc_c{k}": a for k, a in enumerate(accuracies)}}

    checkpoints = pd.DataFrame(
        [
            {**final(0, "learn", "", [0.1, 0.1, 0.1]), "step": 0},
            final(0, "learn", "", [0.9, 0.95, 0.9]),
            final(1, "learn", "", [0.5, 0.6, 0.5]),  # stalled
            final(2, "retain", "0", [0.0, 0.95, 0.9]),  # forgot its class: fine
            final(3, "retain", "1", [0.5, 0.0, 0.6]),  # stalled on what it keeps
        ]
    )
    stalled = recipe.stalled_runs(checkpoints, reference=92.0, max_gap=10.0, num_classes=3)
    assert stalled.to_dict() == {"learn": 1, "retain": 1}


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"lrs": [], "seeds": 1, "seed": 0, "tolerance": 1.0}, "lrs"),
        ({"lrs": [0.1, -1.0], "seeds": 1, "seed": 0, "tolerance": 1.0}, "lrs"),
        ({"lrs": [0.1], "seeds": 0, "seed": 0, "tolerance": 1.0}, "seeds"),
    ],
)
def test_a_bad_search_is_refused(block, message):
    with pytest.raises(ConfigError, match=message):
        recipe.RecipeSearch.from_params(block, "model_zoo.recipe_search")


def test_an_unknown_on_poor_is_refused():
    with pytest.raises(ConfigError, match="on_poor"):
        recipe.Competence.from_params({**COMPETENCE, "on_poor": "ignore"}, "model_zoo.competence")
