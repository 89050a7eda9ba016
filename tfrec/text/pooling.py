"""Pooling: BERT token states [batch, length, hidden] -> one vector per text [batch, hidden]."""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

POOLING_MODES = ("mean", "cls")


@keras.utils.register_keras_serializable(package="tfrec")
class Pooling(keras.layers.Layer):
    """Pools BERT's last hidden states into one embedding per text.

    `mean` averages the states of real tokens (attention_mask 1), as sentence-transformers
    does for all-MiniLM-L6-v2; use it with checkpoints trained that way. `cls` takes the
    state of the first ([CLS]) token, for checkpoints trained with a [CLS] objective.

    Args:
        mode: str. `"mean"` or `"cls"`. Defaults to `"mean"`.
        **kwargs: passed to `keras.layers.Layer`.

    Call args:
        hidden_states: float tensor `[batch, length, hidden]`.
        attention_mask: int or float tensor `[batch, length]`, 1 for real tokens.

    Example:
    ```python
    pooled = Pooling("mean")(tf.ones([2, 4, 8]), tf.constant([[1, 1, 0, 0], [1, 1, 1, 1]]))
    pooled.shape  # (2, 8)
    ```
    """

    def __init__(self, mode: str = "mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in POOLING_MODES:
            raise ValueError(
                f"`mode` must be one of {', '.join(POOLING_MODES)}. Received: mode={mode!r}"
            )
        self.mode = mode

    def call(self, hidden_states, attention_mask) -> tf.Tensor:
        if self.mode == "cls":
            return hidden_states[:, 0]
        mask = tf.cast(attention_mask, hidden_states.dtype)[:, :, tf.newaxis]
        total = tf.reduce_sum(hidden_states * mask, axis=1)
        count = tf.maximum(tf.reduce_sum(mask, axis=1), tf.cast(1e-9, hidden_states.dtype))
        return total / count

    def compute_output_shape(self, input_shape):
        if (
            isinstance(input_shape, (list, tuple))
            and input_shape
            and not isinstance(input_shape[0], (int, type(None)))
        ):
            input_shape = input_shape[0]  # (hidden_states, attention_mask) shapes
        shape = tf.TensorShape(input_shape)
        return tf.TensorShape([shape[0], shape[-1]])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"mode": self.mode})
        return config
