import pytest
from omegaconf import OmegaConf

from hyperforget.core.params import (
    list_param,
    optional_positive_int,
    parse_retain_margins,
    verdict_bars,
)


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


@pytest.mark.parametrize(
    ("written", "expected"),
    [("[1 2 3]", [1.0, 2.0, 3.0]), ("2", [2.0]), ('"0.5 1"', [0.5, 1.0]), ("[0]", [0.0])],
)
def test_retain_margins_are_read_as_numbers(written, expected):
    assert parse_retain_margins(from_command_line(written)) == expected
    assert parse_retain_margins([1, 2.5]) == [1.0, 2.5]


@pytest.mark.parametrize("written", ["[]", "null", "[-1]", "[two]", "[1 nan]"])
def test_bad_retain_margins_are_refused_with_the_fix(written):
    with pytest.raises(ValueError, match=r"evaluation.retain_margins must be .*\[1 2 3\]"):
        parse_retain_margins(from_command_line(written))


@pytest.mark.parametrize("value", [None, 1, 2000, "300"])
def test_optional_positive_int_accepts_counts_and_null(value):
    expected = None if value is None else int(value)
    assert optional_positive_int({"cap": value}, "cap", "evaluation") == expected


@pytest.mark.parametrize("value", [0, -3, 2.5, "many", True, [5]])
def test_optional_positive_int_names_the_parameter(value):
    with pytest.raises(ValueError, match=r"evaluation\.cap must be a positive integer or null"):
        optional_positive_int({"cap": value}, "cap", "evaluation")


def test_verdict_bars_are_read_as_points():
    assert verdict_bars({"forgot_tolerance": 2, "retrain_max_drop": "5.5"}) == (2.0, 5.5)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("forgot_tolerance", -1),
        ("forgot_tolerance", "two"),
        ("retrain_max_drop", None),
        ("retrain_max_drop", True),
        ("forgot_tolerance", float("nan")),
    ],
)
def test_bad_verdict_bars_name_the_parameter(key, value):
    params = {"forgot_tolerance": 2.0, "retrain_max_drop": 5.0, key: value}
    with pytest.raises(ValueError, match=rf"evaluation\.{key} must be a number of accuracy point"):
        verdict_bars(params)
