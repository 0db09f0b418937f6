"""List-valued parameters as they arrive from a command line.

``kedro run --params`` splits its argument on every comma, so ``forget_classes=[1,7]`` cannot
be written there. A list can instead be written with spaces, ``forget_classes=[1 7]`` or
``forget_classes="1 7"``; ``list_param`` reads both (and any YAML list) as ``[1, 7]``.
"""

from __future__ import annotations

import math
import re
from typing import Any


def list_param(value: Any) -> Any:
    """Split the strings of a list parameter on whitespace, digit strings becoming ints.

    A string or an integer alone becomes a list; ``None`` and other types are returned as
    they are, for the caller to validate.
    """
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        value = [value]
    if not isinstance(value, list | tuple):
        return value
    items = [part for v in value for part in (v.split() if isinstance(v, str) else [v])]
    return [_number(p) if isinstance(p, str) else p for p in items]


def _number(text: str) -> Any:
    """``"3"`` as 3, ``"0.5"``, ``"1e-3"``, ``".nan"`` as floats; other text as it is."""
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    yaml_special = {".nan": "nan", ".inf": "inf", "-.inf": "-inf", "+.inf": "inf"}
    candidate = yaml_special.get(text.lower(), text)
    if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[-+]?(nan|inf)", candidate):
        return float(candidate)
    return text


def float_list(value: Any, name: str) -> list[float] | None:
    """A list of numbers (``null`` stays ``None``); a command line gives ``[0.5 0.5 0.5]``, which
    ``list_param`` splits."""
    if value is None:
        return None
    items = list_param(value)
    try:
        return [float(item) for item in items]
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a list of numbers, one per image channel (e.g. [0.1307]; on the "
            f'command line "{name}=[0.5 0.5 0.5]"), or null; got {value!r}.'
        ) from None


def parse_retain_margins(value: Any) -> list[float]:
    """``evaluation.retain_margins`` checked and read as numbers (a command line gives them as
    ``[1 2 3]``, which ``list_param`` splits)."""
    margins = list_param(value)
    try:
        numbers = [float(margin) for margin in margins]
    except (TypeError, ValueError):
        numbers = []
    if not numbers or any(not number >= 0 for number in numbers):
        raise ValueError(
            "evaluation.retain_margins must be a non-empty list of points >= 0 under the "
            "oracle, e.g. [1, 2, 3] (on the command line: "
            f'--params "evaluation.retain_margins=[1 2 3]"); got {value!r}.'
        )
    return numbers


def optional_positive_int(params: dict[str, Any], key: str, block: str) -> int | None:
    """``params[key]`` as a positive integer, or ``None`` (null: no limit); anything else is
    refused with the parameter's name."""
    value = params[key]
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"\d+", value.strip()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{block}.{key} must be a positive integer or null, got {value!r}.")
    return value


def run_counts(evaluation: dict[str, Any]) -> tuple[int, int]:
    """``evaluation.oracle_runs`` (R) and ``method_runs`` (M), checked: forgetting quality
    compares M method runs with M of the R retrained models, and needs 3 per side."""
    oracle_runs = optional_positive_int(evaluation, "oracle_runs", "evaluation")
    method_runs = optional_positive_int(evaluation, "method_runs", "evaluation")
    if method_runs is None or method_runs < 3:
        raise ValueError(
            f"evaluation.method_runs must be 3 or more (forgetting quality needs 3 runs per "
            f"side; 5 or more to judge a method), got {evaluation['method_runs']!r}."
        )
    if oracle_runs is None or oracle_runs < method_runs:
        raise ValueError(
            f"evaluation.oracle_runs ({evaluation['oracle_runs']!r}) must be at least "
            f"evaluation.method_runs ({method_runs}): each method run is paired with its own "
            "retrained model. Raise oracle_runs (2 x method_runs also scores retraining "
            "against itself) or lower method_runs."
        )
    optional_positive_int(evaluation, "forget_examples", "evaluation")
    return oracle_runs, method_runs


def verdict_bars(evaluation: dict[str, Any]) -> tuple[float, float]:
    """``evaluation.forgot_tolerance`` and ``evaluation.retrain_max_drop``, checked: points of
    accuracy, numbers >= 0."""
    return (
        non_negative(evaluation, "forgot_tolerance", 2.0, "a number of accuracy points"),
        non_negative(evaluation, "retrain_max_drop", 5.0, "a number of accuracy points"),
    )


def non_negative(evaluation: dict[str, Any], key: str, example: float, what: str) -> float:
    """``evaluation[key]`` as a number >= 0, or a refusal naming the parameter."""
    value = evaluation.get(key)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not number >= 0:
        raise ValueError(f"evaluation.{key} must be {what} >= 0 (e.g. {example}), got {value!r}.")
    return number
