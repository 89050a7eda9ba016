"""Search spaces: config keys -> ranges, their defaults, checks and the per-trial config.

A search space maps dotted config keys to `SearchParam`s:

    tuning:
      search_space:
        retrieval.temperature: {type: float, min: 0.02, max: 0.2, sampling: log}
        retrieval.embedding_dim: {type: choice, values: [32, 64, 128]}
        retrieval.projection_layers: {type: choice, values: [[], [256], [256, 128]]}

Every value a trial can take is checked against the config's own rules when the config is
loaded, so a search never starts a trial whose config `tfrec train` would reject. Choice values
that Keras Tuner cannot hold (lists, null, mixed types) travel as their JSON text and are turned
back into config values in `trial_config`.

This module imports no TensorFlow (`tfrec.config` calls `check_tuning` while loading).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import typing
from typing import Any

from tfrec.config import ConfigError, SearchParam

# Keys a search may set, per tuned model (the config sections that model reads).
TUNABLE_SECTIONS = {
    "retrieval": ("retrieval", "text"),
    "ranking": ("ranking",),
}
# Keys in those sections that change where things are written or what is evaluated, not the model.
NOT_TUNABLE = {
    "retrieval.epochs",
    "retrieval.early_stopping_patience",
    "retrieval.backup_every_steps",
    "retrieval.price_buckets",
    "text.checkpoint",
    "text.cache_dir",
    "text.encode_batch_size",
    "ranking.epochs",
    "ranking.early_stopping_patience",
    "ranking.backup_every_steps",
    "ranking.extra_features",
    "ranking.unshown_negatives",
    "ranking.candidates",
    "ranking.max_eval_searches",
}
DEFAULT_OBJECTIVES = {"retrieval": "val_recall_at_100", "ranking": "val_click_auc"}
# Epoch-log metrics the retrieval trials report (ValidationRecall adds the val_ ones for any K).
RETRIEVAL_OBJECTIVE = re.compile(
    r"^(val_(search_|feed_)?recall_at_[1-9][0-9]*|loss|regularization_loss|total_loss)$"
)
_KT_SCALARS = (bool, int, float, str)


def default_search_space(model: str, cfg: Any = None) -> dict[str, SearchParam]:
    """The default search space of `model` (`retrieval` or `ranking`). With a config whose text
    mode is `top_k_layers`, the retrieval space also tunes `text.trainable_layers`."""
    if model == "retrieval":
        space = {
            "retrieval.embedding_dim": SearchParam("choice", values=[32, 64, 128]),
            "retrieval.projection_layers": SearchParam(
                "choice", values=[[], [256], [512], [256, 128]]
            ),
            "retrieval.temperature": SearchParam("float", min=0.02, max=0.2, sampling="log"),
            "retrieval.learning_rate": SearchParam("float", min=3e-4, max=1e-2, sampling="log"),
            "retrieval.optimizer": SearchParam("choice", values=["adam", "adagrad"]),
            "retrieval.batch_size": SearchParam("choice", values=[128, 256, 512]),
            "retrieval.num_hard_negatives": SearchParam("choice", values=[None, 10, 50]),
        }
        if cfg is not None and cfg.text.mode == "top_k_layers":
            space["text.trainable_layers"] = SearchParam("int", min=1, max=2)
        return space
    if model == "ranking":
        return {
            "ranking.cross_layers": SearchParam("int", min=1, max=3),
            "ranking.projection_dim": SearchParam("choice", values=[None, 8, 16, 32]),
            "ranking.deep_layers": SearchParam("choice", values=[[64], [128, 64], [256, 128]]),
            "ranking.structure": SearchParam("choice", values=["stacked", "parallel"]),
            "ranking.learning_rate": SearchParam("float", min=1e-4, max=1e-2, sampling="log"),
            "ranking.purchase_loss_weight": SearchParam("float", min=0.25, max=2.0),
        }
    raise ValueError(f"`model` must be retrieval or ranking. Received: model={model!r}")


def resolve_search_space(cfg: Any) -> dict[str, SearchParam]:
    """The config's search space, or the model's default space when none is declared."""
    space = cfg.tuning.search_space
    return dict(space) if space is not None else default_search_space(cfg.tuning.model, cfg)


def objective_name(cfg: Any) -> str:
    return cfg.tuning.objective or DEFAULT_OBJECTIVES[cfg.tuning.model]


def _field(key: str) -> tuple[dataclasses.Field, Any] | None:
    """The dataclass field a dotted key names and its type hint, or None."""
    from tfrec.config import Config

    cls: Any = Config
    parts = key.split(".")
    for i, part in enumerate(parts):
        if not dataclasses.is_dataclass(cls):
            return None
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if part not in fields:
            return None
        f = fields[part]
        hint = typing.get_type_hints(cls)[part]
        if i == len(parts) - 1:
            return f, hint
        cls = hint
    return None


def _check_value(value: Any, key: str, key_in_space: str, where: str) -> Any:
    """`value` converted and range-checked by the config's own rules for `key`."""
    from tfrec.config import _check_range, _convert

    f, hint = _field(key)
    converted = _convert(value, hint, key_in_space, where)
    _check_range(converted, f.metadata, key_in_space, where)
    return converted


def _numeric_kind(hint: Any) -> str | None:
    """`int` or `float` for (optional) numeric fields, else None."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    if len(args) == 1 and args[0] in (int, float) and args[0] is not bool:
        return args[0].__name__
    return None


def check_search_param(name: str, p: SearchParam, model: str, where: str) -> None:
    """Raise `ConfigError` when one search-space entry is unknown, empty or contradictory."""
    key = f"tuning.search_space.{name}"
    sections = TUNABLE_SECTIONS[model]
    found = _field(name)
    if found is None or name.split(".")[0] not in sections or name in NOT_TUNABLE:
        hint = ", ".join(f"{s}.*" for s in sections)
        raise ConfigError(
            f"{where}: {key} is not a tunable config key for tuning.model {model} "
            f"(tunable: {hint}, except {', '.join(sorted(k for k in NOT_TUNABLE if k.split('.')[0] in sections))})"
        )
    hint = found[1]
    if dataclasses.is_dataclass(hint):
        raise ConfigError(f"{where}: {key} names a whole section; tune its keys one by one")
    if p.type == "choice":
        for extra in ("min", "max", "step"):
            if getattr(p, extra) is not None:
                raise ConfigError(f"{where}: {key}.{extra} is only for type int or float")
        if not p.values:
            raise ConfigError(f"{where}: {key}.values is empty: list the values to try")
        seen = []
        for i, v in enumerate(p.values):
            _check_value(v, name, f"{key}.values[{i}]", where)
            if v in seen:
                raise ConfigError(f"{where}: {key}.values lists {v!r} twice")
            seen.append(v)
        return
    if p.values is not None:
        raise ConfigError(f"{where}: {key}.values is only for type choice (got type {p.type})")
    kind = _numeric_kind(hint)
    if kind is None or (p.type == "float" and kind == "int"):
        raise ConfigError(
            f"{where}: {key} has type {p.type}, but {name} is not "
            f"{'an int' if p.type == 'int' else 'a float'} config value "
            "(use type choice)"
        )
    for bound in ("min", "max"):
        if getattr(p, bound) is None:
            raise ConfigError(f"{where}: {key}.{bound} is required for type {p.type}")
        value = getattr(p, bound)
        if p.type == "int" and float(value) != int(value):
            raise ConfigError(f"{where}: {key}.{bound} must be an integer, got {value!r}")
        _check_value(int(value) if kind == "int" else value, name, f"{key}.{bound}", where)
    if not p.min < p.max:
        raise ConfigError(
            f"{where}: {key} has min {p.min:g} >= max {p.max:g}: nothing to search "
            "(min must be < max; to fix a value, set it in its own section)"
        )
    if p.step is not None:
        if p.step <= 0:
            raise ConfigError(f"{where}: {key}.step must be > 0, got {p.step:g}")
        if p.type == "int" and float(p.step) != int(p.step):
            raise ConfigError(f"{where}: {key}.step must be an integer, got {p.step!r}")
    if p.sampling in ("log", "reverse_log") and p.min <= 0:
        raise ConfigError(f"{where}: {key} with sampling {p.sampling} needs min > 0, got {p.min:g}")


def check_tuning(cfg: Any, where: str = "<config>") -> None:
    """Raise `ConfigError` for an empty or contradictory search space or objective."""
    t = cfg.tuning
    if t.search_space is not None and not t.search_space:
        raise ConfigError(
            f"{where}: tuning.search_space is empty: declare at least one key, or leave it out "
            f"for the default {t.model} space"
        )
    for name, p in resolve_search_space(cfg).items():
        check_search_param(name, p, t.model, where)
    objective = objective_name(cfg)
    if t.model == "retrieval" and not RETRIEVAL_OBJECTIVE.match(objective):
        raise ConfigError(
            f"{where}: tuning.objective {objective!r} is not reported by the retrieval model "
            "(it reports val_recall_at_K, val_search_recall_at_K, val_feed_recall_at_K for any "
            "K, and loss)"
        )
    if objective.endswith("loss") and t.direction == "max":
        raise ConfigError(
            f"{where}: tuning.direction is max but tuning.objective {objective!r} is a loss: "
            "use direction: min"
        )
    if objective.startswith("val_") and "loss" not in objective and t.direction == "min":
        raise ConfigError(
            f"{where}: tuning.direction is min but tuning.objective {objective!r} is a quality "
            "metric: use direction: max"
        )
    if t.tuner == "hyperband" and t.epochs < t.hyperband_factor:
        raise ConfigError(
            f"{where}: tuning.tuner hyperband needs tuning.epochs >= tuning.hyperband_factor "
            f"({t.hyperband_factor}), got epochs {t.epochs}"
        )


# --------------------------------------------------------------------------------------------
# Keras Tuner hyperparameters <-> config values
# --------------------------------------------------------------------------------------------


def _needs_encoding(values: list) -> bool:
    kinds = {type(v) for v in values}
    return len(kinds) != 1 or not issubclass(kinds.pop(), _KT_SCALARS)


def encode_choice(values: list) -> list:
    """Keras Tuner `Choice` values for config values: as they are when all are one scalar type,
    else their JSON text (`[256, 128]`, `null`)."""
    return [json.dumps(v) for v in values] if _needs_encoding(values) else list(values)


def declare_hyperparameters(hp: Any, space: dict[str, SearchParam], cfg: Any) -> None:
    """Declare every entry of `space` on `hp` (a `keras_tuner.HyperParameters`). The default of
    each is the value in `cfg` when the space holds it, so the defaults are the given config."""
    for name, p in space.items():
        current = config_value(cfg, name)
        if p.type == "choice":
            values = encode_choice(p.values)
            default = values[p.values.index(current)] if current in p.values else None
            hp.Choice(name, values, default=default)
            continue
        kind = _numeric_kind(_field(name)[1])
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
    """Keras Tuner trial values -> config values (decoded choices; `tuner/...` keys dropped)."""
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


def trial_config(cfg: Any, values: dict[str, Any]) -> Any:
    """A copy of `cfg` with the dotted keys in `values` set, validated like a loaded config."""
    from tfrec.config import config_from_dict, config_to_dict, set_dotted

    data = config_to_dict(cfg)
    for name, v in values.items():
        set_dotted(data, name, copy.deepcopy(v))
    return config_from_dict(data, f"{cfg.source_path or '<config>'} (trial values {values})")


def config_value(cfg: Any, dotted: str) -> Any:
    node = cfg
    for part in dotted.split("."):
        node = getattr(node, part)
    return node


def format_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, type(None))):
        return json.dumps(v)
    return str(v)
