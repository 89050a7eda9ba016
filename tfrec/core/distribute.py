"""The `tf.distribute` strategy named in the config.

Models and optimizers are built inside `strategy.scope()` (see `retrieval_training`), the way
multi-GPU and TPU users expect; the global batch size in the config is split across replicas.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from tfrec.config import TrainingConfig


def get_strategy(cfg: TrainingConfig) -> tf.distribute.Strategy:
    """`default` (one device), `mirrored` (all local GPUs), `multi_worker` (TF_CONFIG cluster),
    `tpu` (`tpu_address`, or the Colab/Cloud TPU found from the environment) or
    `parameter_server` (TF_CONFIG cluster with `ps` tasks, `parameter_server_strategy`)."""
    if cfg.mixed_precision:
        policy = "mixed_bfloat16" if cfg.strategy == "tpu" else "mixed_float16"
        keras.mixed_precision.set_global_policy(policy)
    if cfg.strategy == "default":
        return tf.distribute.get_strategy()
    if cfg.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if cfg.strategy == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if cfg.strategy == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=cfg.tpu_address or "")
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.NotFoundError) as e:
            raise RuntimeError(
                f"training.strategy is tpu but no TPU was found (tpu_address={cfg.tpu_address!r}): {e}"
            ) from e
        return tf.distribute.TPUStrategy(resolver)
    if cfg.strategy == "parameter_server":
        return parameter_server_strategy(cfg)
    raise ValueError(f"unknown training.strategy {cfg.strategy!r}")


def parameter_server_strategy(cfg: TrainingConfig) -> tf.distribute.Strategy:
    """`ParameterServerStrategy` over the `TF_CONFIG` cluster (this process is its `chief`, the
    coordinator), with the variables that hold at least `cfg.shard_min_bytes` (in tfrec: the
    user and item id embedding tables of a large shop) split across the parameter servers.

    Args:
        cfg: TrainingConfig. `shard_min_bytes`: the smallest shard; a variable is split into
            at most one shard per parameter server, each at least this large.

    Example:
        >>> strategy = parameter_server_strategy(cfg.training)  # doctest: +SKIP
        >>> with strategy.scope():  # doctest: +SKIP
        ...     table = tf.Variable(tf.zeros([1_000_000, 32]))  # a ShardedVariable
    """
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    cluster = resolver.cluster_spec().as_dict()
    if not cluster.get("ps") or not cluster.get("worker"):
        raise RuntimeError(
            "training.strategy is parameter_server but TF_CONFIG names no cluster with `ps` and "
            f"`worker` tasks (jobs found: {sorted(cluster) or 'none'})"
        )
    partitioner = tf.distribute.experimental.partitioners.MinSizePartitioner(
        min_shard_bytes=cfg.shard_min_bytes, max_shards=len(cluster["ps"])
    )
    return tf.distribute.experimental.ParameterServerStrategy(
        resolver, variable_partitioner=partitioner
    )


def _named_specs(spec, path: str):
    """(name, TensorSpec) of every leaf of a nested spec: `features/query`, `labels/click`."""
    if isinstance(spec, dict):
        for key, value in spec.items():
            yield from _named_specs(value, f"{path}/{key}" if path else str(key))
    elif isinstance(spec, (tuple, list)):
        names = ("features", "labels", "weights") if len(spec) <= 3 else range(len(spec))
        for name, value in zip(names, spec):
            yield from _named_specs(value, f"{path}/{name}" if path else str(name))
    else:
        yield path or "batch", spec


def static_input_problems(element_spec) -> list[str]:
    """What in a dataset's batches a TPU (or an XLA-compiled step) cannot take: strings, which
    must become ids on the host, and dimensions unknown until run time (a partial last batch
    needs `drop_remainder=True`; text a fixed `max_length`).

    Args:
        element_spec: a `tf.data.Dataset.element_spec` (nested `tf.TensorSpec`s).

    Returns:
        list of str, one per offending feature (empty when every one is fine).

    Example:
        >>> spec = {"query": tf.TensorSpec([None], tf.string), "ids": tf.TensorSpec([8], tf.int64)}
        >>> static_input_problems(spec)
        ['query: a string tensor (strings cannot go to the device)', 'query: shape (None,) is not static']
    """
    problems = []
    for path, spec in _named_specs(element_spec, ""):
        if spec.dtype == tf.string:
            problems.append(f"{path}: a string tensor (strings cannot go to the device)")
        if not spec.shape.is_fully_defined():
            problems.append(f"{path}: shape {tuple(spec.shape.as_list())} is not static")
    return problems


def check_static_inputs(dataset, what: str) -> None:
    """Raise a `ValueError` naming every feature of `dataset` that `static_input_problems`
    finds (called when `training.static_shapes`, before a TPU or XLA run compiles).

    Args:
        dataset: tf.data.Dataset. The training batches.
        what: str. Which dataset, for the message (e.g. `retrieval training batches`).

    Example:
        >>> check_static_inputs(tf.data.Dataset.range(4).batch(3), "numbers")
        Traceback (most recent call last):
        ValueError: numbers are not TPU/XLA-ready (training.strategy tpu or training.jit_compile): batch: shape (None,) is not static
    """
    problems = static_input_problems(dataset.element_spec)
    if problems:
        raise ValueError(
            f"{what} are not TPU/XLA-ready (training.strategy tpu or training.jit_compile): "
            + "; ".join(problems)
        )
