"""List-valued parameters as they arrive from a command line.

``kedro run --params`` splits its argument on every comma, so ``forget_classes=[1,7]`` cannot
be written there. A list can instead be written with spaces, ``forget_classes=[1 7]`` or
``forget_classes="1 7"``; ``list_param`` reads both (and any YAML list) as ``[1, 7]``.
"""

from __future__ import annotations

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


def split_spaced_lists(value: Any) -> Any:
    """``value`` with every list holding a string with spaces (``[ft ga]`` on a command line
    arrives as ``["ft ga"]``) read by ``list_param``, in nested dictionaries too; other values
    as they are."""
    if isinstance(value, dict):
        return {key: split_spaced_lists(item) for key, item in value.items()}
    if isinstance(value, list) and any(isinstance(v, str) and len(v.split()) > 1 for v in value):
        return list_param(value)
    return value


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
