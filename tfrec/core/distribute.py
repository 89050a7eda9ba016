"""The `tf.distribute` strategy named in the config.

Models and optimizers are built inside `strategy.scope()` (see `retrieval_training`), the way
multi-GPU and TPU users expect; the global batch size in the config is split across replicas.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from tfrec.config import TrainingConfig


def get_strategy(cfg: TrainingConfig) -> tf.distribute.Strategy:
    """`default` (one device), `mirrored` (all local GPUs), `multi_worker` (TF_CONFIG cluster)
    or `tpu` (`tpu_address`, or the Colab/Cloud TPU found from the environment)."""
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
    raise ValueError(f"unknown training.strategy {cfg.strategy!r}")
