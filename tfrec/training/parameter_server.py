"""Retrieval training on a parameter-server cluster (`training.strategy: parameter_server`),
for shops whose user or item id embedding tables do not fit one device.

The coordinator (this process, the `chief` of `TF_CONFIG`) builds the model under
`ParameterServerStrategy` (`tfrec.core.distribute.parameter_server_strategy`): its variable
partitioner splits each table of at least `training.shard_min_bytes` into one shard per
parameter server (`ShardedVariable`s), and Keras's `Embedding` looks rows up shard by shard
(`tf.nn.embedding_lookup`), so no device holds a whole table. Workers train asynchronously,
each on its own per-worker dataset (`DatasetCreator`; the global batch split by
`InputContext`, the batches sharded by worker), with `steps_per_epoch` steps an epoch.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.data.datasets import retrieval_dataset
from tfrec.data.prepared import PreparedData
from tfrec.models.retrieval import RetrievalModel, build_retrieval_model
from tfrec.text.frozen import frozen_text_tables


def worker_dataset_creator(
    cfg: Config, data: PreparedData
) -> keras.utils.experimental.DatasetCreator:
    """The retrieval training batches as a `DatasetCreator`: each worker builds the dataset
    itself, batched to its share of `retrieval.batch_size`, keeps every n-th batch (n =
    workers) and repeats, as `ParameterServerStrategy` needs.

    Args:
        cfg: the run's config (`retrieval.batch_size`, `training.seed`).
        data: the prepared data (its training examples are embedded in the dataset graph).

    Example:
        >>> model.fit(worker_dataset_creator(cfg, data), steps_per_epoch=100)  # doctest: +SKIP
    """
    r = cfg.retrieval

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        batch = context.get_per_replica_batch_size(r.batch_size)
        ds = retrieval_dataset(
            data,
            "train",
            batch,
            seed=cfg.training.seed,
            history_example_weight=r.history_example_weight,
            include_text=False,
        )
        return ds.shard(context.num_input_pipelines, context.input_pipeline_id).repeat()

    return keras.utils.experimental.DatasetCreator(dataset_fn)


def fit_retrieval_on_cluster(
    cfg: Config,
    data: PreparedData,
    strategy: tf.distribute.Strategy,
    epochs: int,
    steps_per_epoch: int,
) -> tuple[RetrievalModel, keras.callbacks.History]:
    """Build the frozen-text retrieval model under a `ParameterServerStrategy` and train it
    with `fit`; returns the model (its variables on the parameter servers) and the history.

    Args:
        cfg: the run's config (`text.mode` must be `frozen`).
        data: the prepared data.
        strategy: a `ParameterServerStrategy` (`get_strategy` of `parameter_server`).
        epochs: int. Epochs.
        steps_per_epoch: int. Steps (batches over all workers) per epoch.

    Example:
        >>> model, history = fit_retrieval_on_cluster(cfg, data, strategy, 2, 100)  # doctest: +SKIP
    """
    if cfg.text.mode != "frozen":
        raise ValueError(
            f"training.strategy parameter_server trains text.mode frozen only (got "
            f"{cfg.text.mode!r}): a trained BERT is a dense model, for multi_worker or tpu"
        )
    keras.utils.set_random_seed(cfg.training.seed)
    item_table, query_table = frozen_text_tables(cfg, data)
    with strategy.scope():
        model = build_retrieval_model(cfg, data, item_table, query_table)
        # every variable exists before fit (the coordinator creates none inside a step)
        model.compute_loss(next(iter(retrieval_dataset(data, "train", 8))), training=False)
        model.optimizer.build(model.trainable_variables)
    echo(
        f"[retrieval] parameter servers: {strategy.extended._num_ps}, workers "
        f"{strategy.extended._num_workers}, {steps_per_epoch} steps x {epochs} epochs"
    )
    history = model.fit(
        worker_dataset_creator(cfg, data),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        verbose=cfg.training.fit_verbose,
    )
    return model, history
