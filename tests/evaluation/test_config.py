import pytest
from omegaconf import OmegaConf

from hyperforget.core.config import ConfigError
from hyperforget.evaluation.config import EvaluationConfig

BLOCK = {
    "seed": 0,
    "oracle_runs": 10,
    "method_runs": 5,
    "forget_examples": 256,
    "retain_margins": [1, 2, 3],
    "forgot_tolerance": 2.0,
    "retrain_max_drop": 5.0,
    "oracle_max_z": 3.0,
    "mia_max_samples": 2000,
}


def from_command_line(value: str):
    """What ``kedro run --params "key=<value>"`` hands the pipeline (an OmegaConf dotlist)."""
    return OmegaConf.to_container(OmegaConf.from_dotlist([f"key={value}"]))["key"]


@pytest.mark.parametrize(
    ("written", "expected"),
    [("[1 2 3]", (1.0, 2.0, 3.0)), ("[0.5 1]", (0.5, 1.0)), ("[0]", (0.0,))],
)
def test_retain_margins_are_read_as_numbers_from_a_command_line(written, expected):
    value = from_command_line(written)
    assert EvaluationConfig.value_of("retain_margins", value, "evaluation") == expected
    config = EvaluationConfig.from_params({**BLOCK, "retain_margins": value}, "evaluation")
    assert config.retain_margins == expected


@pytest.mark.parametrize("written", ["[]", "null", "[-1]", "[two]", "[1 nan]"])
def test_bad_retain_margins_are_refused_naming_the_parameter(written):
    value = from_command_line(written)
    with pytest.raises(ConfigError, match=r"evaluation\.retain_margins"):
        EvaluationConfig.from_params({**BLOCK, "retain_margins": value}, "evaluation")


@pytest.mark.parametrize("value", [None, 1, 2000])
def test_attack_cap_is_a_count_or_null(value):
    config = EvaluationConfig.from_params({**BLOCK, "mia_max_samples": value}, "evaluation")
    assert config.mia_max_samples == value


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("mia_max_samples", 0),
        ("mia_max_samples", 2.5),
        ("forget_examples", "many"),
        ("forgot_tolerance", -1),
        ("forgot_tolerance", "two"),
        ("retrain_max_drop", None),
        ("retrain_max_drop", True),
        ("forgot_tolerance", float("nan")),
        ("method_runs", 2),
    ],
)
def test_bad_values_name_the_parameter(key, value):
    with pytest.raises(ConfigError, match=rf"evaluation\.{key}"):
        EvaluationConfig.from_params({**BLOCK, key: value}, "evaluation")


def test_fewer_retrained_models_than_method_runs_is_refused():
    with pytest.raises(ConfigError, match=r"oracle_runs \(4\) must be at least"):
        EvaluationConfig.from_params({**BLOCK, "oracle_runs": 4}, "evaluation")
