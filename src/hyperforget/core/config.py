"""Typed, frozen configurations read from a block of parameters.

A configuration is a frozen dataclass whose fields are the keys of one parameters block (e.g.
``unlearning.methods.ssd``). ``from_params`` refuses, with one message that names the parameter,
the bad value and what is allowed: a key the dataclass does not know (listing the known ones), a
missing key, a value of the wrong type, and a value outside the field's range or choices. The
YAML files are the one source of the values; a field has a default only where the key is
optional for users (and then the YAML need not repeat it).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any, TypeVar

from hyperforget.core.params import list_param

C = TypeVar("C", bound="Config")
# where in the parameters the config being built comes from (set by ``Config.from_params``)
_WHERE: ContextVar[str | None] = ContextVar("config_where", default=None)


def setting(
    default: Any = dataclasses.MISSING,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple[Any, ...] | None = None,
    key: str | None = None,
) -> Any:
    """A field with the range (``ge``, ``gt``, ``le``, ``lt``) or ``choices`` its value must lie
    in; ``key``: its name in the YAML where that is not a Python name (e.g. ``lambda``)."""
    bounds = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "key": key}
    metadata = {k: v for k, v in bounds.items() if v is not None}
    return dataclasses.field(default=default, metadata=metadata)


class ConfigError(ValueError):
    """A parameter block that cannot be used; the message names the parameter and the fix."""


_RANGE = {
    "ge": (lambda v, b: v >= b, ">= {}"),
    "gt": (lambda v, b: v > b, "> {}"),
    "le": (lambda v, b: v <= b, "<= {}"),
    "lt": (lambda v, b: v < b, "< {}"),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# scalar type -> (accepts, how the message names it)
_SCALARS: dict[Any, tuple[Any, str]] = {
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (_is_int, "a whole number"),
    float: (lambda v: _is_int(v) or isinstance(v, float), "a number"),
    str: (lambda v: isinstance(v, str), "a string"),
}


def _convert(value: Any, annotation: Any, name: str) -> Any:
    """``value`` as the field's type; YAML and ``--params`` give ints where floats are meant and
    lists where tuples are."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(value, option, name)
            except ConfigError as error:
                errors.append(error)
        raise errors[0]
    if origin in (tuple, list):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} must be a list, got {value!r}.")
        value = list_param(value)  # the command line's "[0.5 0.5]" arrives as ["0.5 0.5"]
        item = args[0] if args else Any
        items = [_convert(v, item, f"{name}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if annotation in _SCALARS:
        accepts, kind = _SCALARS[annotation]
        if not accepts(value):
            raise ConfigError(f"{name} must be {kind}, got {value!r}.")
        if annotation is float and not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number, got {value!r}.")
        return float(value) if annotation is float else value
    if isinstance(annotation, type) and issubclass(annotation, Config):
        return annotation.from_params(value, name)
    return value


def _check_range(value: Any, metadata: Mapping[str, Any], name: str) -> None:
    if value is None:
        return
    choices = metadata.get("choices")
    if choices is not None and value not in choices:
        allowed = ", ".join(map(repr, choices))
        raise ConfigError(f"{name} must be one of {allowed}; got {value!r}.")
    for key, (ok, text) in _RANGE.items():
        if key in metadata:
            values = value if isinstance(value, (tuple, list)) else (value,)
            if not all(ok(v, metadata[key]) for v in values):
                raise ConfigError(f"{name} must be {text.format(metadata[key])}; got {value!r}.")


def unknown_keys_message(unknown: list[Any], known: list[str], where: str | None) -> str:
    """One line naming the unknown keys, the closest known name of each, and the known ones."""
    prefix = f"{where}." if where else ""
    named = []
    for key in unknown:
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
        named.append(f"{prefix}{key}{hint}")
    block = where or "the top level"
    return f"Unknown parameter(s) {', '.join(named)}; {block} knows: {', '.join(known)}."


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every configuration: build with ``from_params(block, "where.in.yaml")``.

    Built directly (``SGDConfig(lr=0.1, ...)``, as library code and tests do), the ranges,
    choices and ``check`` hold too; the message then names the class instead of the YAML key.
    """

    def __post_init__(self) -> None:
        where = _WHERE.get() or type(self).__name__
        for field in dataclasses.fields(self):
            key = f"{where}.{field.metadata.get('key', field.name)}"
            _check_range(getattr(self, field.name), field.metadata, key)
        self.check(where)

    @classmethod
    def from_params(cls: type[C], params: Mapping[str, Any] | None, where: str) -> C:
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise ConfigError(f"{where} must be a block of parameters, got {params!r}.")
        fields = {f.metadata.get("key", f.name): f for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - set(fields), key=str)
        if unknown:
            raise ConfigError(unknown_keys_message(unknown, list(fields), where))
        hints = typing.get_type_hints(cls)
        values = {}
        for key, field in fields.items():
            full = f"{where}.{key}"
            if key not in params:
                required = field.default is dataclasses.MISSING
                if required and field.default_factory is dataclasses.MISSING:
                    raise ConfigError(
                        f"Missing parameter {full}: set it in conf/base (its comment there says "
                        "what it does)."
                    )
                continue
            value = _convert(params[key], hints[field.name], full)
            values[field.name] = value
        token = _WHERE.set(where)
        try:
            return cls(**values)
        finally:
            _WHERE.reset(token)

    @classmethod
    def value_of(cls, key: str, value: Any, where: str) -> Any:
        """One key's value converted and range-checked as ``from_params`` would: for a node
        that reads a single key of a block (``params:evaluation.retain_margins``)."""
        field = {f.metadata.get("key", f.name): f for f in dataclasses.fields(cls)}[key]
        full = f"{where}.{key}"
        converted = _convert(value, typing.get_type_hints(cls)[field.name], full)
        _check_range(converted, field.metadata, full)
        return converted

    def check(self, where: str) -> None:
        """Checks that involve several fields; raise :class:`ConfigError` naming them."""

    def to_dict(self) -> dict[str, Any]:
        """The values under their YAML keys."""
        return {
            f.metadata.get("key", f.name): getattr(self, f.name) for f in dataclasses.fields(self)
        }
