import pytest

from hyperforget.core.config import ConfigError
from hyperforget.core.schema import check_parameters, check_stage

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
    assert check_stage("data_preparation", {**DATA, "normalisation": None}).normalisation is None
    spelled = {**DATA, "normalisation": {"mean": ["0.5 0.5 0.5"], "std": ["0.2 0.2 0.2"]}}
    assert check_stage("data_preparation", spelled).normalisation.std == (0.2, 0.2, 0.2)


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
