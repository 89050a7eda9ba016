"""Search spaces <-> Keras Tuner hyperparameters, and the config of one trial.

The space itself (tunable keys, default spaces, the checks run when a config is loaded) is
`tfrec.config.search_space`. This module declares a space on a `keras_tuner.HyperParameters`,
turns a trial's values back into config values and builds the trial's config. Choice values
that Keras Tuner cannot hold (lists, null, mixed types) travel as their JSON text and are turned
back into config values in `config_values`.

This module imports no TensorFlow (nor Keras Tuner: `hp` is whatever object is passed in).
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from tfrec.config import (
    Config,
    SearchParam,
    config_from_dict,
    config_to_dict,
    set_dotted,
)
from tfrec.config.search_space import config_field, numeric_kind

_KT_SCALARS = (bool, int, float, str)


def _needs_encoding(values: list) -> bool:
    kinds = {type(v) for v in values}
    return len(kinds) != 1 or not issubclass(kinds.pop(), _KT_SCALARS)


def encode_choice(values: list) -> list:
    """Keras Tuner `Choice` values for config values: as they are when all are one scalar type,
    else their JSON text (`[256, 128]`, `null`).

    Example:
        >>> encode_choice([32, 64]), encode_choice([[], [256]])
        ([32, 64], ['[]', '[256]'])
    """
    return [json.dumps(v) for v in values] if _needs_encoding(values) else list(values)


def declare_hyperparameters(hp: Any, space: dict[str, SearchParam], cfg: Config) -> None:
    """Declare every entry of `space` on `hp`, with the config's own values as the defaults.

    Args:
        hp: keras_tuner.HyperParameters.
        space: dict. Dotted config key -> `SearchParam` (see `resolve_search_space`).
        cfg: Config. The default of each entry is its value in `cfg` when the space holds it.

    Example:
        >>> hp = keras_tuner.HyperParameters()
        >>> declare_hyperparameters(hp, resolve_search_space(cfg), cfg)
        >>> hp.values["retrieval.embedding_dim"] == cfg.retrieval.embedding_dim
        True
    """
    for name, p in space.items():
        current = config_value(cfg, name)
        if p.type == "choice":
            values = encode_choice(p.values)
            default = values[p.values.index(current)] if current in p.values else None
            hp.Choice(name, values, default=default)
            continue
        kind = numeric_kind(config_field(name)[1])
        in_range = current is not None and p.min <= current <= p.max
        if p.type == "int" or kind == "int":
            hp.Int(
                name,
                int(p.min),
                int(p.max),
                step=int(p.step) if p.step else None,
                sampling=p.sampling,
                default=int(current) if in_range else None,
            )
        else:
            hp.Float(
                name,
                float(p.min),
                float(p.max),
                step=p.step,
                sampling=p.sampling,
                default=float(current) if in_range else None,
            )


def config_values(values: dict, space: dict[str, SearchParam]) -> dict[str, Any]:
    """Keras Tuner trial values -> config values (decoded choices; `tuner/...` keys dropped).

    Args:
        values: `hp.values` of a trial.
        space: dict. The space the values were declared from.

    Example:
        >>> space = {"retrieval.projection_layers": SearchParam("choice", values=[[], [16]])}
        >>> config_values({"retrieval.projection_layers": "[16]", "tuner/epochs": 3}, space)
        {'retrieval.projection_layers': [16]}
    """
    out = {}
    for name, p in space.items():
        if name not in values:
            continue
        v = values[name]
        if p.type == "choice" and _needs_encoding(p.values):
            v = json.loads(v)
        elif p.type == "float" and isinstance(v, float):
            v = float(f"{v:.6g}")
        out[name] = v
    return out


def trial_config(cfg: Config, values: dict[str, Any]) -> Config:
    """A copy of `cfg` with the dotted keys in `values` set, validated like a loaded config.

    Args:
        cfg: Config. The run's config (not changed).
        values: dict. Dotted config key -> config value (see `config_values`).

    Raises:
        ConfigError: a value the config does not accept.

    Example:
        >>> trial_config(Config(), {"retrieval.temperature": 0.1}).retrieval.temperature
        0.1
    """
    data = config_to_dict(cfg)
    for name, v in values.items():
        set_dotted(data, name, copy.deepcopy(v))
    return config_from_dict(data, f"{cfg.source_path or '<config>'} (trial values {values})")


def config_value(cfg: Config, dotted: str) -> Any:
    """The value of the dotted key `dotted` in `cfg`.

    Example:
        >>> config_value(Config(), "retrieval.embedding_dim")
        128
    """
    node = cfg
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def format_value(v: Any) -> str:
    """A config value as the trials table and the report show it (`0.05`, `[256, 128]`, `null`).

    Example:
        >>> format_value(0.0512345), format_value([256, 128]), format_value(None)
        ('0.05123', '[256, 128]', 'null')
    """
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, type(None))):
        return json.dumps(v)
    return str(v)
