"""The tuning section's search space: which keys may be tuned, the default spaces, the checks.

A search space maps dotted config keys to `SearchParam`s:

    tuning:
      search_space:
        retrieval.temperature: {type: float, min: 0.02, max: 0.2, sampling: log}
        retrieval.embedding_dim: {type: choice, values: [32, 64, 128]}
        retrieval.projection_layers: {type: choice, values: [[], [256], [256, 128]]}

Every value a trial can take is checked against the config's own rules when the config is
loaded (`check_tuning`, called by `tfrec.config.loading`), so a search never starts a trial whose
config `tfrec train` would reject. Declaring the space to Keras Tuner and building a trial's
config are `tfrec.tuning.space`'s job; this module is pure config checking.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from typing import Any

from tfrec.config.schema import Config, ConfigError, SearchParam
from tfrec.config.values import _check_range, _convert

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
    "text.layer_cache",
    "text.layer_cache_dtype",
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


def default_search_space(model: str, cfg: Config | None = None) -> dict[str, SearchParam]:
    """The default search space of `model`, used when `tuning.search_space` is not declared.

    Args:
        model: `retrieval` or `ranking` (`tuning.model`).
        cfg: Config, optional. With a config whose text mode is `top_k_layers`, the retrieval
            space also tunes `text.trainable_layers`.

    Returns:
        Dotted config key -> `SearchParam`.

    Example:
        >>> sorted(default_search_space("ranking"))[:2]
        ['ranking.cross_layers', 'ranking.deep_layers']
    """
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


def resolve_search_space(cfg: Config) -> dict[str, SearchParam]:
    """The config's search space, or the model's default space when none is declared.

    Args:
        cfg: Config. Reads `cfg.tuning.search_space` and `cfg.tuning.model`.

    Example:
        >>> resolve_search_space(Config()) == default_search_space("retrieval")
        True
    """
    space = cfg.tuning.search_space
    return dict(space) if space is not None else default_search_space(cfg.tuning.model, cfg)


def objective_name(cfg: Config) -> str:
    """`tuning.objective`, or the tuned model's default objective when it is not set.

    Example:
        >>> objective_name(Config())
        'val_recall_at_100'
    """
    return cfg.tuning.objective or DEFAULT_OBJECTIVES[cfg.tuning.model]


def config_field(key: str) -> tuple[dataclasses.Field, Any] | None:
    """The dataclass field a dotted config key names and its type hint, or None.

    Args:
        key: a dotted key of `Config` (`retrieval.temperature`).

    Example:
        >>> config_field("retrieval.temperature")[1]
        <class 'float'>
        >>> config_field("retrieval.dropout") is None
        True
    """
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


def numeric_kind(hint: Any) -> str | None:
    """`int` or `float` for (optional) numeric field types, else None.

    Example:
        >>> numeric_kind(typing.Optional[int]), numeric_kind(list[int])
        ('int', None)
    """
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    if len(args) == 1 and args[0] in (int, float) and args[0] is not bool:
        return args[0].__name__
    return None


def _check_value(value: Any, key: str, key_in_space: str, where: str) -> Any:
    """`value` converted and range-checked by the config's own rules for `key`."""
    f, hint = config_field(key)
    converted = _convert(value, hint, key_in_space, where)
    _check_range(converted, f.metadata, key_in_space, where)
    return converted


def check_search_param(name: str, p: SearchParam, model: str, where: str) -> None:
    """Raise `ConfigError` when one search-space entry is unknown, empty or contradictory.

    Args:
        name: the dotted config key the entry tunes (`retrieval.temperature`).
        p: SearchParam. The entry.
        model: `tuning.model`; only the keys of that model's sections may be tuned.
        where: the file (or other source), for the message.

    Example:
        >>> check_search_param(
        ...     "retrieval.temperature", SearchParam("float", min=0.5, max=0.1), "retrieval", "x"
        ... )
        Traceback (most recent call last):
        ...
        tfrec.config.schema.ConfigError: x: tuning.search_space.retrieval.temperature has min ...
    """
    key = f"tuning.search_space.{name}"
    sections = TUNABLE_SECTIONS[model]
    found = config_field(name)
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
    kind = numeric_kind(hint)
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


def check_tuning(cfg: Config, where: str = "<config>") -> None:
    """Raise `ConfigError` for an empty or contradictory search space or objective.

    Args:
        cfg: Config. Its `tuning` section is checked (with the default space when none is
            declared).
        where: the file (or other source), for the message.

    Example:
        >>> cfg = Config()
        >>> cfg.tuning.objective = "loss"  # a loss, but direction is max
        >>> check_tuning(cfg, "x.yaml")
        Traceback (most recent call last):
        ...
        tfrec.config.schema.ConfigError: x.yaml: tuning.direction is max but ...
    """
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
