"""`ConfigHyperModel`, the base of the tfrec HyperModels: `hp` -> a copy of the config -> the
ordinary tfrec model built from it.

Tuning never forks the model code: a trial's hyperparameters are config values
(`retrieval.temperature`, `text.trainable_layers`, ...), set on a copy of the run's config and
validated like a loaded config; the model is then built by the same function `tfrec train` uses.
The subclasses: `tfrec.tuning.retrieval.RetrievalHyperModel`,
`tfrec.tuning.ranking.RankingHyperModel`; `tfrec.tuning.hypermodels.make_hypermodel` picks one.
"""

from __future__ import annotations

from typing import Any

import keras_tuner as kt
import tensorflow as tf

from tfrec.config import Config, SearchParam
from tfrec.core.distribute import get_strategy
from tfrec.data.prepared import load_prepared
from tfrec.tuning.space import config_values, declare_hyperparameters, trial_config


class ConfigHyperModel(kt.HyperModel):
    """Base of the tfrec HyperModels: declares the search space and maps `hp` to a config.

    Args:
        cfg: Config. The run's config; trials change only the keys of `space`.
        space: dict. Dotted config key -> `SearchParam` (see `tfrec.tuning.space`).
        run: RunDir. The run whose prepared data the trials train on.
        data: PreparedData, optional. The prepared data (loaded from `run` on first use).
        **kwargs: passed to `keras_tuner.HyperModel` (`name`, `tunable`).

    Example:
        >>> class Tiny(ConfigHyperModel):  # doctest: +SKIP
        ...     def build_for_config(self, cfg):
        ...         return build_model_for_run(cfg, self.data, self.strategy)
        >>> Tiny(cfg, resolve_search_space(cfg), run).config(hp).retrieval.temperature  # doctest: +SKIP
        0.05
    """

    def __init__(self, cfg: Config, space: dict[str, SearchParam], run, data=None, **kwargs):
        super().__init__(**kwargs)
        self.cfg = cfg
        self.space = space
        self.run = run
        self._data = data
        self._strategy = None

    @property
    def data(self):
        """The run's prepared data (loaded from `run` on first use when not given)."""
        if self._data is None:
            self._data = load_prepared(self.cfg, self.run)
        return self._data

    @property
    def strategy(self) -> tf.distribute.Strategy:
        """The config's strategy, made once per process (a TPU system is initialized once)."""
        if self._strategy is None:
            self._strategy = get_strategy(self.cfg.training)
        return self._strategy

    def declare_hyperparameters(self, hp: kt.HyperParameters) -> None:
        declare_hyperparameters(hp, self.space, self.cfg)

    def values(self, hp: kt.HyperParameters) -> dict[str, Any]:
        """The config values of `hp` (decoded; Keras Tuner's own `tuner/...` entries dropped)."""
        self.declare_hyperparameters(hp)
        return config_values(hp.values, self.space)

    def config(self, hp: kt.HyperParameters) -> Config:
        """A copy of the run's config with the trial's values set."""
        return trial_config(self.cfg, self.values(hp))

    def build(self, hp: kt.HyperParameters):
        return self.build_for_config(self.config(hp))

    def build_for_config(self, cfg: Config):
        raise NotImplementedError

    def fit(self, hp, model, *args, cfg: Config | None = None, **kwargs):
        raise NotImplementedError
