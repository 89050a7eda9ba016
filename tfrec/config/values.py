"""Checking one config value against its declared type and range rules.

`_build` turns a plain mapping (as read from YAML) into a config dataclass, field by field:
`_convert` checks a value against the field's type hint (and converts ints to floats where a
float is declared), `_check_range` applies the `param(..., gt=0)` rules of the field. Every
failure is a `ConfigError` naming the file, the dotted key and the value.

These helpers are shared by `tfrec.config.loading` (whole configs) and
`tfrec.config.search_space` (each value a search space can give a key).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

from tfrec.config.schema import ConfigError


def _type_name(tp: Any) -> str:
    """A type hint as a reader of an error message knows it (`list of int`, `null`)."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if origin is dict:
        k, v = typing.get_args(tp)
        return f"mapping of {_type_name(k)} to {_type_name(v)}"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "mapping"
    return getattr(tp, "__name__", str(tp))


def _fail(where: str, key: str, msg: str) -> ConfigError:
    """The `ConfigError` ``<where>: <key> <msg>``."""
    return ConfigError(f"{where}: {key} {msg}")


def _convert(value: Any, tp: Any, key: str, where: str) -> Any:
    """`value` checked against the type hint `tp` (nested dataclasses built with `_build`).

    Args:
        value: the value as read from YAML.
        tp: the field's type hint (`int`, `Optional[int]`, `list[int]`, `Literal[...]`, a
            dataclass, ...).
        key: the dotted key, for the message (`retrieval.batch_size`).
        where: the file (or other source), for the message.

    Returns:
        The value, with ints turned into floats where a float is declared.

    Raises:
        ConfigError: the value does not fit the type.

    Example:
        >>> _convert(1, float, "retrieval.temperature", "x.yaml")
        1.0
    """
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, key, where)
            except ConfigError as e:
                errors.append(e)
        if len(errors) == 1:
            raise errors[0]
        raise _fail(where, key, f"must be {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise _fail(
                where, key, f"must be one of {', '.join(map(repr, choices))}, got {value!r}"
            )
        return value
    if origin is list:
        if not isinstance(value, list):
            raise _fail(where, key, f"must be a {_type_name(tp)}, got {value!r}")
        (item_tp,) = typing.get_args(tp)
        return [_convert(v, item_tp, f"{key}[{i}]", where) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, key, f"must be a {_type_name(tp)}, got {value!r}")
        k_tp, v_tp = typing.get_args(tp)
        return {
            _convert(k, k_tp, f"{key}.{k}", where): _convert(v, v_tp, f"{key}.{k}", where)
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(where, key, f"must be a mapping, got {value!r}")
        return _build(tp, value, key, where)
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(where, key, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(where, key, f"must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(where, key, f"must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(where, key, f"must be a string, got {value!r}")
        return value
    if tp is Any:
        return value
    raise TypeError(f"unsupported config type {tp!r} at {key}")


def _check_range(value: Any, meta: Any, key: str, where: str) -> None:
    """Raise `ConfigError` when `value` breaks a range rule of its field (`param(gt=...)`).

    Args:
        value: a converted value; lists and mappings are checked entry by entry.
        meta: the field's metadata (`gt`, `ge`, `lt`, `le`, `min_len`).
        key: the dotted key, for the message.
        where: the file (or other source), for the message.

    Example:
        >>> _check_range(-1.0, {"gt": 0}, "retrieval.temperature", "x.yaml")
        Traceback (most recent call last):
        ...
        tfrec.config.schema.ConfigError: x.yaml: retrieval.temperature must be > 0, got -1.0
    """
    if value is None:
        return
    rules = [
        ("gt", lambda v, b: v > b, ">"),
        ("ge", lambda v, b: v >= b, ">="),
        ("lt", lambda v, b: v < b, "<"),
        ("le", lambda v, b: v <= b, "<="),
    ]
    if isinstance(value, dict):  # a mapping's values, each named by its own key
        for k, v in value.items():
            _check_range(v, {**meta, "min_len": None}, f"{key}.{k}", where)
        return
    values = value if isinstance(value, list) else [value]
    for v in values:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        for name, ok, sym in rules:
            bound = meta.get(name)
            if bound is not None and not ok(v, bound):
                raise _fail(where, key, f"must be {sym} {bound:g}, got {value!r}")
    min_len = meta.get("min_len")
    if min_len is not None and isinstance(value, list) and len(value) < min_len:
        raise _fail(where, key, f"must have at least {min_len} entries, got {value!r}")


def _build(cls: type, data: dict, prefix: str, where: str) -> Any:
    """An instance of the config dataclass `cls` from the mapping `data`, every key checked.

    Args:
        cls: a config dataclass (`Config`, `RetrievalConfig`, ...).
        data: its keys and values as read from YAML; absent keys keep their defaults.
        prefix: the dotted key of `cls` in the config (`""` for `Config`).
        where: the file (or other source), for the messages.

    Raises:
        ConfigError: an unknown key, a missing required key, a wrong type or a value out of
            range.

    Example:
        >>> from tfrec.config import RetrievalConfig
        >>> _build(RetrievalConfig, {"temperature": 0.1}, "retrieval", "x.yaml").temperature
        0.1
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.metadata.get("help") != "internal"}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = f"{prefix}.{unknown[0]}" if prefix else str(unknown[0])
        raise _fail(
            where, key, f"is not a known key (known keys here: {', '.join(sorted(fields))})"
        )
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in data:
            value = _convert(data[name], hints[name], key, where)
            _check_range(value, f.metadata, key, where)
            kwargs[name] = value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _fail(where, key, "is required")
    return cls(**kwargs)
