"""`RetrievalHyperModel`: the two-tower retrieval model of a trial's config."""

from __future__ import annotations

import re

import tensorflow as tf

from tfrec.config import Config
from tfrec.data.datasets import retrieval_dataset
from tfrec.evaluation.validation import ValidationRecall
from tfrec.training.retrieval import attach_layer_caches, build_model_for_run, uses_layer_cache
from tfrec.tuning.base import ConfigHyperModel


class RetrievalHyperModel(ConfigHyperModel):
    """The two-tower retrieval model (`tfrec.models.retrieval.RetrievalModel`) of a trial's config.

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
        model = build_model_for_run(cfg, self.data, self.strategy)
        if uses_layer_cache(cfg):
            # top_k_layers trials run only the trained top of BERT per step (as training does);
            # each trial fills its own caches: `text.trainable_layers` may differ between trials
            with self.strategy.scope():
                attach_layer_caches(cfg, model, self.data)
        return model

    def train_dataset(self, cfg: Config) -> tf.data.Dataset:
        r = cfg.retrieval
        return retrieval_dataset(
            self.data,
            "train",
            r.batch_size,
            seed=cfg.training.seed,
            history_example_weight=r.history_example_weight,
            # with the frozen-layer caches queries are read by `query_idx`: no strings needed
            include_text=not uses_layer_cache(cfg),
        )

    def warm_start(self, model, cfg: Config, weights: str) -> None:
        """Create the variables, then load `weights` (Hyperband's continued trials)."""
        batch = next(iter(self.train_dataset(cfg)))
        with self.strategy.scope():
            model.compute_loss(batch, training=False)
        model.load_weights(weights).expect_partial()

    def fit(self, hp, model, *args, cfg: Config | None = None, callbacks=(), **kwargs):
        cfg = cfg or self.config(hp)
        kwargs.setdefault("verbose", cfg.training.fit_verbose)
        callbacks = [
            ValidationRecall(self.data, k=self.recall_k, max_instances=self.max_eval_instances),
            *callbacks,
        ]
        return model.fit(self.train_dataset(cfg), *args, callbacks=callbacks, **kwargs)
