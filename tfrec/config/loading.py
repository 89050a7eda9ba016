"""Loading, saving and overriding configs: YAML <-> plain mappings <-> `Config`.

`load_config(path)` reads a YAML file, applies `--set` overrides (`set_dotted`) and builds the
`Config` with `config_from_dict`, which checks every key (`tfrec.config.values`) and then the
rules that tie keys together, the tuning section's search space included
(`tfrec.config.search_space`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import yaml

from tfrec.config.schema import Config, ConfigError
from tfrec.config.search_space import check_tuning
from tfrec.config.values import _build, _fail


def _cross_checks(cfg: Config, where: str) -> None:
    """Rules that tie several keys together (data sources, text mode, the tuning section)."""
    d = cfg.data
    if d.source == "files" and (d.items is None or d.events is None):
        raise _fail(where, "data", "with source: files needs both data.items and data.events")
    if d.source == "transactions" and d.transactions is None:
        raise _fail(where, "data", "with source: transactions needs data.transactions")
    if cfg.text.mode == "top_k_layers" and cfg.text.trainable_layers < 1:
        raise _fail(where, "text.trainable_layers", "must be >= 1 with mode top_k_layers")
    r = cfg.ranking
    if r.judgment_val_fraction + r.judgment_test_fraction >= 1:
        raise _fail(
            where,
            "ranking.judgment_val_fraction + judgment_test_fraction",
            f"must be < 1 (queries are left to train on), got "
            f"{r.judgment_val_fraction} + {r.judgment_test_fraction}",
        )
    if r.cross_encoder_query_length > r.cross_encoder_max_length - 2:
        raise _fail(
            where,
            "ranking.cross_encoder_query_length",
            f"must leave room for the title in cross_encoder_max_length "
            f"({r.cross_encoder_max_length}), got {r.cross_encoder_query_length}",
        )
    check_tuning(cfg, where)


def config_from_dict(data: dict | None, where: str = "<config>") -> Config:
    """Build a `Config` from a plain mapping (as read from YAML), every key checked.

    Args:
        data: the mapping; None (an empty YAML file) gives the defaults.
        where: the file (or other source) the messages name. Defaults to `<config>`.

    Raises:
        ConfigError: a key, value or combination of values the schema does not accept.

    Example:
        >>> config_from_dict({"retrieval": {"temperature": 0.1}}).retrieval.temperature
        0.1
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the top level must be a mapping, got {type(data).__name__}")
    cfg = _build(Config, data, "", where)
    _cross_checks(cfg, where)
    return cfg


def load_config(path: str | os.PathLike, overrides: dict | None = None) -> Config:
    """Read a YAML config; `overrides` (dotted keys -> values) are applied before validation.

    Args:
        path: the YAML file.
        overrides: dict, optional. Dotted keys -> values (`tfrec ... --set key=value`).

    Raises:
        ConfigError: a missing file, invalid YAML, or a config the schema does not accept; the
            message names the file, the key and the value.

    Example:
        >>> cfg = load_config("configs/quickstart.yaml", {"retrieval.epochs": 1})
        >>> cfg.retrieval.epochs, cfg.source_path
        (1, 'configs/quickstart.yaml')
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from e
    if data is None:
        data = {}
    for dotted, value in (overrides or {}).items():
        set_dotted(data, dotted, value)
    cfg = config_from_dict(data, str(path))
    cfg.source_path = str(path)
    return cfg


def set_dotted(data: dict, dotted: str, value: Any) -> None:
    """Set the dotted key `dotted` in the plain mapping `data`, creating absent sections.

    Args:
        data: a config as plain data (modified in place).
        dotted: e.g. `retrieval.epochs`.
        value: the value to set.

    Raises:
        ConfigError: a part of the key names a value, not a section.

    Example:
        >>> data = {"retrieval": None}
        >>> set_dotted(data, "retrieval.epochs", 3)
        >>> data
        {'retrieval': {'epochs': 3}}
    """
    node = data
    parts = dotted.split(".")
    for i, p in enumerate(parts[:-1]):
        if node.get(p) is None:  # absent, or an empty section in the YAML
            node[p] = {}
        node = node[p]
        if not isinstance(node, dict):
            where = ".".join(parts[: i + 1])
            raise ConfigError(f"--set {dotted}: {where} is not a section (it is {node!r})")
    node[parts[-1]] = value


def config_to_dict(cfg: Any) -> dict:
    """The config as plain data (round-trips through `config_from_dict`).

    Example:
        >>> config_from_dict(config_to_dict(Config())) == Config()
        True
    """
    out = dataclasses.asdict(cfg)
    out.pop("source_path", None)
    return out


def save_config(cfg: Config, path: str | os.PathLike) -> None:
    """Write `cfg` as YAML to `path` (parent directories are created); `load_config` reads it.

    Example:
        >>> save_config(cfg, "runs/quickstart/config.yaml")
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False), encoding="utf-8")
