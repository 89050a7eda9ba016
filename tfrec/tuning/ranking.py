"""`RankingHyperModel`: the DCN-v2 CTR ranker (`tfrec.models.ranking.RankingModel`) of a trial's
config.

The ranker trains on features built from the run's trained retrieval model; those are built once
per process (as `tfrec train ranking` builds them) and shared by every trial.
"""

from __future__ import annotations

import tensorflow as tf

from tfrec.config import Config
from tfrec.models.ranking import RankingModel
from tfrec.models.ranking_features import make_dataset
from tfrec.training.ranking import check_labels, prepare_ranking_inputs, read_ranking_tables
from tfrec.training.ranking_io import ranking_model_config
from tfrec.training.retrieval import load_retrieval_model
from tfrec.tuning.base import ConfigHyperModel


class RankingHyperModel(ConfigHyperModel):
    """Maps `hp` to `ranking.*` config values and builds the ranker with
    `tfrec.training.ranking_io.ranking_model_config`, the function `tfrec train ranking` uses.

    Validation metrics come from the model's own Keras metrics on the validation impressions
    (`val_click_auc`, `val_loss`, ...).

    Args:
        objective: str. The objective the tuner reads from the epoch logs.
            Defaults to `val_click_auc`.
        **kwargs: `ConfigHyperModel` arguments.

    Example:

    ```python
    hypermodel = RankingHyperModel(cfg, resolve_search_space(cfg), RunDir(cfg.run_path))
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    model = hypermodel.build(hp)
    history = hypermodel.fit(hp, model, epochs=1)
    ```
    """

    def __init__(self, *args, objective: str = "val_click_auc", **kwargs):
        kwargs.setdefault("name", "ranking")
        super().__init__(*args, **kwargs)
        self.objective = objective
        self._prepared = None

    @property
    def prepared(self) -> dict:
        """Features and labels of every split (from the run's trained retrieval model)."""
        if self._prepared is None:
            retrieval_model = load_retrieval_model(self.cfg, self.run, self.data)
            self._prepared = prepare_ranking_inputs(
                self.cfg, self.data, retrieval_model, *read_ranking_tables(self.run)
            )
            self._prepared["purchase_head"] = check_labels(self._prepared["inputs"]["train"][1])
        return self._prepared

    def build_for_config(self, cfg: Config):
        p = self.prepared
        config = ranking_model_config(cfg, self.data, p["extras"], p["purchase_head"])
        with self.strategy.scope():
            model = RankingModel.from_config(config)
            model.compile_default(cfg.training.steps_per_execution, cfg.training.jit_compile)
        return model

    def datasets(self, cfg: Config) -> tuple[tf.data.Dataset, tf.data.Dataset]:
        inputs = self.prepared["inputs"]
        seed = cfg.training.seed
        train = make_dataset(
            *inputs["train"],
            cfg.ranking.batch_size,
            True,
            seed,
            drop_remainder=cfg.training.static_shapes,
        )
        return train, make_dataset(*inputs["val"], 4096, False, seed)

    def warm_start(self, model, cfg: Config, weights: str) -> None:
        batch = next(iter(self.datasets(cfg)[0]))
        with self.strategy.scope():
            model.compute_loss(batch, training=False)
        model.load_weights(weights).expect_partial()

    def fit(self, hp, model, *args, cfg: Config | None = None, callbacks=(), **kwargs):
        cfg = cfg or self.config(hp)
        kwargs.setdefault("verbose", cfg.training.fit_verbose)
        train, val = self.datasets(cfg)
        return model.fit(train, *args, validation_data=val, callbacks=list(callbacks), **kwargs)
