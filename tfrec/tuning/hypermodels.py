"""HyperModels: `hp` -> a copy of the config -> the ordinary tfrec model built from it.

Tuning never forks the model code: a trial's hyperparameters are config values
(`retrieval.temperature`, `text.trainable_layers`, ...), set on a copy of the run's config and
validated like a loaded config; the model is then built by the same function `tfrec train` uses.
"""

from __future__ import annotations

import re
from typing import Any

import keras_tuner as kt
import tensorflow as tf

from tfrec.config import Config, SearchParam
from tfrec.tuning.space import config_values, declare_hyperparameters, trial_config


class ConfigHyperModel(kt.HyperModel):
    """Base of the tfrec HyperModels: declares the search space and maps `hp` to a config.

    Args:
        cfg: Config. The run's config; trials change only the keys of `space`.
        space: dict. Dotted config key -> `SearchParam` (see `tfrec.tuning.space`).
        run: RunDir. The run whose prepared data the trials train on.
        data: PreparedData, optional. The prepared data (loaded from `run` on first use).
        **kwargs: passed to `keras_tuner.HyperModel` (`name`, `tunable`).
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
        if self._data is None:
            from tfrec.data.prepared import load_prepared

            self._data = load_prepared(self.cfg, self.run)
        return self._data

    @property
    def strategy(self) -> tf.distribute.Strategy:
        """The config's strategy, made once per process (a TPU system is initialized once)."""
        if self._strategy is None:
            from tfrec.core.distribute import get_strategy

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


class RetrievalHyperModel(ConfigHyperModel):
    """The two-tower retrieval model (`tfrec.retrieval.RetrievalModel`) of a trial's config.

    `fit` trains on the run's training examples and adds `ValidationRecall` (full-catalog
    Recall@K on the validation searches and feed users) to the epoch logs, with K taken from the
    objective name (`val_recall_at_100` -> K = 100).

    Args:
        objective: str. The objective the tuner reads from the epoch logs.
            Defaults to `val_recall_at_100`.
        max_eval_instances: int. Validation searches and users scored per epoch (each).
            Defaults to 2000.
        **kwargs: `ConfigHyperModel` arguments.

    Example:

    ```python
    hypermodel = RetrievalHyperModel(cfg, resolve_search_space(cfg), RunDir(cfg.run_path))
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    model = hypermodel.build(hp)          # the config's own values are the defaults
    history = hypermodel.fit(hp, model, epochs=1)
    ```
    """

    def __init__(
        self, *args, objective: str = "val_recall_at_100", max_eval_instances=2000, **kwargs
    ):
        kwargs.setdefault("name", "retrieval")
        super().__init__(*args, **kwargs)
        self.objective = objective
        self.max_eval_instances = max_eval_instances

    @property
    def recall_k(self) -> int:
        m = re.search(r"recall_at_(\d+)$", self.objective)
        return int(m.group(1)) if m else 100

    def build_for_config(self, cfg: Config):
        from tfrec.training.retrieval import build_model_for_run

        return build_model_for_run(cfg, self.data, self.strategy)

    def train_dataset(self, cfg: Config) -> tf.data.Dataset:
        from tfrec.data.datasets import retrieval_dataset

        r = cfg.retrieval
        return retrieval_dataset(
            self.data,
            "train",
            r.batch_size,
            seed=cfg.training.seed,
            history_example_weight=r.history_example_weight,
        )

    def warm_start(self, model, cfg: Config, weights: str) -> None:
        """Create the variables, then load `weights` (Hyperband's continued trials)."""
        batch = next(iter(self.train_dataset(cfg)))
        with self.strategy.scope():
            model.compute_loss(batch, training=False)
        model.load_weights(weights).expect_partial()

    def fit(self, hp, model, *args, cfg: Config | None = None, callbacks=(), **kwargs):
        from tfrec.evaluation.validation import ValidationRecall

        cfg = cfg or self.config(hp)
        kwargs.setdefault("verbose", cfg.training.fit_verbose)
        callbacks = [
            ValidationRecall(self.data, k=self.recall_k, max_instances=self.max_eval_instances),
            *callbacks,
        ]
        return model.fit(self.train_dataset(cfg), *args, callbacks=callbacks, **kwargs)


def make_hypermodel(cfg: Config, space: dict[str, SearchParam], run, objective: str, data=None):
    """The HyperModel of `cfg.tuning.model`."""
    if cfg.tuning.model == "retrieval":
        return RetrievalHyperModel(cfg, space, run, data, objective=objective)
    if cfg.tuning.model == "ranking":
        from tfrec.tuning.ranking import RankingHyperModel

        return RankingHyperModel(cfg, space, run, data, objective=objective)
    raise ValueError(f"unknown tuning.model {cfg.tuning.model!r}")


__all__ = ["ConfigHyperModel", "RetrievalHyperModel", "make_hypermodel"]
