"""Training the retrieval model (the library under `tfrec train retrieval` and the `retrieval`
stage).

Keras `fit` with:
- the validation callbacks the caller passes first (the stage passes
  `tfrec.evaluation.validation.ValidationRecall`, which adds `val_recall_at_100`);
- `EarlyStopping` and `ModelCheckpoint` on that metric (best weights kept);
- `BackupAndRestore` every `backup_every_steps` batches, so a killed run started again resumes
  mid-epoch from its last backup;
- `TensorBoard` logs; Keras progress bars.

The model and optimizer are built under the configured `tf.distribute` strategy's scope.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrec.config import Config
from tfrec.core.distribute import check_static_inputs, get_strategy
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.data.datasets import retrieval_dataset
from tfrec.data.prepared import PreparedData
from tfrec.models.retrieval import RetrievalModel, build_retrieval_model
from tfrec.text.frozen import frozen_text_tables, make_text_encoder
from tfrec.text.layer_cache import FrozenLayerCache
from tfrec.training.callbacks import training_callbacks

VAL_METRIC = "val_recall_at_100"


def build_model_for_run(cfg: Config, data: PreparedData, strategy=None) -> RetrievalModel:
    """The retrieval model of a config, with text tables from the cache (under the strategy)."""
    strategy = strategy or get_strategy(cfg.training)
    item_table, query_table = frozen_text_tables(cfg, data)
    with strategy.scope():
        encoder = item_encoder = None
        if cfg.text.mode != "frozen":
            encoder = make_text_encoder(cfg, name="query_text_encoder")
            if not cfg.text.share_backbone:
                item_encoder = make_text_encoder(cfg, name="item_text_encoder")
        model = build_retrieval_model(
            cfg, data, item_table, query_table, text_encoder=encoder, item_text_encoder=item_encoder
        )
    return model


def uses_layer_cache(cfg: Config) -> bool:
    """Whether training runs the frozen bottom once (`text.layer_cache` in `top_k_layers` mode;
    not with static shapes (a TPU, XLA), which take no ragged tables)."""
    t = cfg.text
    return t.mode == "top_k_layers" and t.layer_cache and not cfg.training.static_shapes


def attach_layer_caches(cfg: Config, model: RetrievalModel, data: PreparedData) -> None:
    """Fill `FrozenLayerCache`s of every catalog text and known query and give them to the
    model (`RetrievalModel.attach_layer_caches`): each step then runs only the top
    `text.trainable_layers` of BERT.

    Example:
        >>> attach_layer_caches(cfg, model, data)  # doctest: +SKIP
    """
    t = cfg.text
    kwargs = {"dtype": t.layer_cache_dtype, "batch_size": t.encode_batch_size}
    items = FrozenLayerCache(
        model.item_text_encoder, data.catalog.texts, name="item texts", **kwargs
    )
    queries = FrozenLayerCache(model.text_encoder, data.queries, name="queries", **kwargs)
    model.attach_layer_caches(items, queries)


def _build_variables(model: RetrievalModel, dataset) -> None:
    """Create every variable (model and optimizer) before fit, as BackupAndRestore requires."""
    batch = next(iter(dataset))
    model.compute_loss(batch, training=False)
    model.optimizer.build(model.trainable_variables)


def train_retrieval(
    cfg: Config,
    run: RunDir,
    data: PreparedData,
    validation: list[keras.callbacks.Callback] = (),
    after_best: list[keras.callbacks.Callback] = (),
) -> RetrievalModel:
    """Train (or resume) the retrieval model of a run; returns the best model.

    Args:
        cfg: the run's config (`retrieval`, `text`, `training`).
        run: where checkpoints, backups, logs and the final model go (`run.retrieval`).
        data: the prepared data.
        validation: callbacks that add `VAL_METRIC` to the epoch logs (run before early
            stopping reads it).
        after_best: callbacks run after the best epoch's weights were restored (e.g.
            `StartGuard`, which keeps the starting weights when no epoch beat them).

    Example:
        >>> model = train_retrieval(cfg, run, data, [ValidationRecall(data)])  # doctest: +SKIP
    """
    r = cfg.retrieval
    tf.keras.utils.set_random_seed(cfg.training.seed)
    strategy = get_strategy(cfg.training)
    echo(
        f"[retrieval] text mode {cfg.text.mode}, strategy {cfg.training.strategy} "
        f"({strategy.num_replicas_in_sync} replica(s)), batch {r.batch_size}, epochs {r.epochs}"
    )
    model = build_model_for_run(cfg, data, strategy)
    train = retrieval_dataset(
        data,
        "train",
        r.batch_size,
        seed=cfg.training.seed,
        history_example_weight=r.history_example_weight,
        include_text=cfg.text.mode != "frozen",
        # a trained BERT reads token ids made on the host, so no strings reach the device
        tokenizer=model.text_encoder.tokenizer if cfg.text.mode != "frozen" else None,
    )
    if cfg.training.static_shapes:
        check_static_inputs(train, "retrieval training batches")
    with strategy.scope():
        if uses_layer_cache(cfg):
            attach_layer_caches(cfg, model, data)
        _build_variables(model, train)

    out = run.retrieval
    out.mkdir(parents=True, exist_ok=True)
    callbacks = training_callbacks(
        out,
        VAL_METRIC,
        r.early_stopping_patience,
        r.backup_every_steps,
        "retrieval",
        extra_first=list(validation),
        extra_last=list(after_best),
    )
    t0 = time.time()
    history = model.fit(
        train, epochs=r.epochs, callbacks=callbacks, verbose=cfg.training.fit_verbose
    )
    seconds = time.time() - t0
    save_retrieval_model(model, run)
    # the caches served training only: free their memory (the item embeddings are memoized)
    model.attach_layer_caches(None, None)
    best = max(history.history.get(VAL_METRIC, [0.0]))
    summary = {
        "epochs_run": len(history.history.get("loss", [])),
        "best_val_recall_at_100": best,
        "seconds": round(seconds, 1),
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
        # the validation metric before training, and whether those weights were kept (StartGuard)
        "start_val_recall_at_100": next(
            (cb.start for cb in validation if getattr(cb, "start", None) is not None), None
        ),
        "kept_starting_weights": any(getattr(cb, "kept_start", False) for cb in after_best),
        # the item tower's cold boost, when a callback chose one (ColdBoostChooser)
        "cold_boost": next(
            (cb.chosen for cb in after_best if getattr(cb, "chosen", None) is not None), None
        ),
    }
    run.retrieval_training_summary.write_text(json.dumps(summary, indent=2))
    echo(f"[retrieval] best {VAL_METRIC} {best:.4f}; model in {out / 'model'}")
    return model


def save_retrieval_model(model: RetrievalModel, run: RunDir) -> None:
    """Weights (TF checkpoint format) and the item embeddings of the final model."""
    run.retrieval_weights.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(run.retrieval_weights))
    np.save(run.item_embeddings, model.all_item_embeddings())


def load_retrieval_model(cfg: Config, run: RunDir, data: PreparedData) -> RetrievalModel:
    """Rebuild the model of a run and restore its trained weights."""
    weights = run.retrieval_weights
    if not Path(str(weights) + ".index").exists():
        raise FileNotFoundError(
            f"{weights}.index does not exist: train first (`tfrec train retrieval CONFIG`)"
        )
    model = build_model_for_run(cfg, data)
    batch = next(iter(retrieval_dataset(data, "train", 8, shuffle=False)))
    model.compute_loss(batch, training=False)
    saved = {name for name, _ in tf.train.list_variables(str(weights))}
    boost = model.item_tower.cold_boost
    # a checkpoint from before the cold boost: the model is the same with the boost at 0
    boost_missing = boost is not None and not any("cold_boost" in name for name in saved)
    try:
        status = model.load_weights(str(weights)).expect_partial()
        try:
            status.assert_existing_objects_matched()
        except AssertionError as e:
            if not (boost_missing and "Found 1 Python objects" in str(e)):
                raise
            echo(
                f"[retrieval] {weights} has no cold boost (trained before it existed): it stays "
                "0; retraining chooses one (retrieval.cold_boost)"
            )
    except (AssertionError, ValueError) as e:
        raise ValueError(
            f"{weights} was trained with another architecture than the config builds now "
            "(e.g. retrieval.text_residual, item_id_embedding, embedding or layer sizes): "
            f"{str(e).splitlines()[0][:300]}. Retrain (`tfrec train retrieval CONFIG`) or set "
            "the config as it was."
        ) from e
    return model
