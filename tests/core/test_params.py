import pytest
from omegaconf import OmegaConf

from hyperforget.core.params import list_param, split_spaced_lists


def from_command_line(value: str):
    """What ``kedro run --params "key=<value>"`` hands the pipeline (an OmegaConf dotlist)."""
    return OmegaConf.to_container(OmegaConf.from_dotlist([f"key={value}"]))["key"]


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("[3]", [3]),
        ("[1 7]", [1, 7]),
        ('"1 7"', [1, 7]),
        ("3", [3]),
        ("[ssd scrub]", ["ssd", "scrub"]),
        ("ssd", ["ssd"]),
        ("[]", []),
        ("null", None),
    ],
)
def test_command_line_lists_are_read_as_lists(written, expected):
    assert list_param(from_command_line(written)) == expected


def test_yaml_lists_and_other_values_pass_through():
    assert list_param([0, 5, 17]) == [0, 5, 17]
    assert list_param((2, "x")) == [2, "x"]
    assert list_param([[1, 2]]) == [[1, 2]]  # left for the caller to refuse
    assert list_param(True) is True
    assert list_param({"a": 1}) == {"a": 1}


def test_spaced_lists_are_split_in_nested_parameters_and_nothing_else_changes():
    parameters = {
        "unlearning": {"run": ["ft ga"], "seed": 0},
        "forget_classes": ["1 7"],
        "forget_class_sets": ["1+7", "3+8"],
        "raw_root": "a folder with spaces",
    }
    assert split_spaced_lists(parameters) == {
        "unlearning": {"run": ["ft", "ga"], "seed": 0},
        "forget_classes": [1, 7],
        "forget_class_sets": ["1+7", "3+8"],
        "raw_root": "a folder with spaces",
    }
