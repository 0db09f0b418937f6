"""Typed, frozen configurations: every bad value is refused with the parameter's name."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass

import pytest

from hyperforget.core.config import Config, ConfigError, setting


@dataclass(frozen=True, kw_only=True)
class Recipe(Config):
    lr: float = setting(gt=0.0)
    epochs: int = setting(ge=1)
    optimizer: str = setting(choices=("sgd", "adam"))
    nesterov: bool = setting(False)
    stop_accuracy: float | None = setting(None, ge=0.0, le=100.0)
    hidden: tuple[int, ...] = setting((10,), ge=1)
    dampening: float = setting(1.0, key="lambda")

    def check(self, where: str) -> None:
        if self.optimizer == "adam" and self.nesterov:
            raise ConfigError(f"{where}.nesterov needs optimizer sgd.")


GOOD = {"lr": 0.1, "epochs": 2, "optimizer": "sgd"}


def test_a_good_block_is_typed_and_frozen():
    recipe = Recipe.from_params({**GOOD, "lr": 1, "hidden": [4, 8], "lambda": 2}, "zoo")
    assert recipe.lr == 1.0 and isinstance(recipe.lr, float)
    assert recipe.hidden == (4, 8) and recipe.dampening == 2.0
    assert recipe.to_dict()["lambda"] == 2.0
    with pytest.raises(FrozenInstanceError):
        recipe.lr = 0.5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"epochz": 3},
            r"Unknown parameter\(s\) zoo.epochz \(did you mean zoo.epochs\?\); zoo knows: lr, ",
        ),
        ({"lr": -0.1}, r"zoo.lr must be > 0.0; got -0.1"),
        ({"epochs": 0}, r"zoo.epochs must be >= 1; got 0"),
        ({"epochs": 2.5}, r"zoo.epochs must be a whole number, got 2.5"),
        ({"epochs": True}, r"zoo.epochs must be a whole number, got True"),
        ({"lr": "fast"}, r"zoo.lr must be a number, got 'fast'"),
        ({"optimizer": "rmsprop"}, r"zoo.optimizer must be one of 'sgd', 'adam'; got 'rmsprop'"),
        ({"nesterov": "yes"}, r"zoo.nesterov must be true or false, got 'yes'"),
        ({"stop_accuracy": 101}, r"zoo.stop_accuracy must be <= 100.0; got 101.0"),
        ({"hidden": [4, 0]}, r"zoo.hidden must be >= 1; got \(4, 0\)"),
        ({"hidden": "4 8"}, r"zoo.hidden must be a list, got '4 8'"),
        ({"optimizer": "adam", "nesterov": True}, r"zoo.nesterov needs optimizer sgd"),
    ],
)
def test_a_bad_value_is_refused_with_its_name(change, message):
    with pytest.raises(ConfigError, match=message):
        Recipe.from_params({**GOOD, **change}, "zoo")


def test_a_missing_key_is_named():
    with pytest.raises(ConfigError, match="Missing parameter zoo.epochs"):
        Recipe.from_params({"lr": 0.1, "optimizer": "sgd"}, "zoo")


def test_null_is_taken_only_where_allowed():
    assert Recipe.from_params({**GOOD, "stop_accuracy": None}, "zoo").stop_accuracy is None
    with pytest.raises(ConfigError, match="zoo.lr must be a number, got None"):
        Recipe.from_params({**GOOD, "lr": None}, "zoo")
