import pytest

from hyperforget.core.config import ConfigError
from hyperforget.schema import check_parameters, checked

DATA = {
    "classes": None,
    "subset": None,
    "split": {
        "fractions": {"train": 0.7, "val": 0.1, "test": 0.2},
        "seed": 0,
        "official_test": True,
    },
    "normalisation": {"mean": [0.1307], "std": [0.3081]},
}


def test_normalisation_null_and_command_line_lists_are_read():
    assert checked("data_preparation", {**DATA, "normalisation": None}).normalisation is None
    spelled = {**DATA, "normalisation": {"mean": ["0.5 0.5 0.5"], "std": ["0.2 0.2 0.2"]}}
    assert checked("data_preparation", spelled).normalisation.std == (0.2, 0.2, 0.2)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (
            {"evalution": {}},
            r"Unknown parameter\(s\) evalution \(did you mean evaluation\?\); the top",
        ),
        ({"lineage": ""}, r"lineage must be null or a save version"),
    ],
)
def test_the_top_level_is_checked(parameters, message):
    with pytest.raises(ConfigError, match=message):
        check_parameters(parameters)


@pytest.mark.parametrize("env", ["local", "test", "mnist", "mnist4", "paper"])
def test_every_shipped_environment_passes_the_schema(env):
    from pathlib import Path

    from kedro.config import OmegaConfigLoader

    from hyperforget.settings import CONFIG_LOADER_ARGS

    conf = Path(__file__).parents[1] / "conf"
    loader = OmegaConfigLoader(str(conf), env=env, **CONFIG_LOADER_ARGS)
    blocks = check_parameters(loader["parameters"])
    assert blocks["data_preparation"].split.fractions["train"] > 0


def test_split_fractions_must_sum_to_one_where_the_split_pools():
    pooled = {**DATA, "split": {**DATA["split"], "official_test": False}}
    pooled["split"]["fractions"] = {"train": 0.9, "val": 0.1, "test": 0.2}
    with pytest.raises(ValueError, match=r"sum to 1.2, not 1"):
        checked("data_preparation", pooled)
    official = {**pooled, "split": {**pooled["split"], "official_test": True}}
    assert checked("data_preparation", official).split.official_test
