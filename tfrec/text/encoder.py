"""TextEncoder: raw strings -> one pooled BERT embedding per text, as one Keras layer."""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
import tf_keras as keras
from tqdm.auto import tqdm

from tfrec.text.backbone import TRAINABLE_MODES, load_bert, resolve_checkpoint, set_trainable_mode
from tfrec.text.pooling import Pooling
from tfrec.text.tokenizer import TOKEN_KEYS, BertTokenizerLayer


@keras.utils.register_keras_serializable(package="tfrec")
class TextEncoder(keras.layers.Layer):
    """A BERT text tower: raw strings -> pooled embedding `[batch, hidden]`.

    It chains the in-graph `BertTokenizerLayer`, a `TFBertModel` loaded by `load_bert` and
    `Pooling`, so a model that contains it takes `tf.string` input end to end (in `tf.data`,
    in training and in an exported SavedModel). The BERT weights are weights of this layer:
    `save_weights`, `tf.train.Checkpoint` and `tf.saved_model.save` carry them.

    In `frozen` mode BERT always runs in inference mode (no dropout). In `top_k_layers` mode
    the frozen bottom (embeddings and the lower encoder layers) runs in inference mode too and
    only the trained top layers follow the `training` flag, so the bottom's output is a fixed
    function of the text (`frozen_states`, cached by `FrozenLayerCache`); in `full` mode all
    of BERT follows the `training` flag.

    Args:
        checkpoint: str. `"minilm"`, a local Hugging Face BERT directory, or a hub name when
            the hub is reachable (see `resolve_checkpoint`). Defaults to `"minilm"`.
        max_length: int. Tokens per text, [CLS] and [SEP] included. Defaults to 32.
        pooling: str. `"mean"` (masked mean of the token states) or `"cls"`. Defaults to
            `"mean"`.
        mode: str. `"frozen"`, `"top_k_layers"` or `"full"`: what of BERT is trained.
            Defaults to `"frozen"`.
        trainable_layers: int. How many top encoder layers train in `top_k_layers` mode.
            Defaults to 2.
        normalize: bool. L2-normalize the pooled embedding. Defaults to False.
        trim_padding: bool. Run BERT only up to the longest text of each batch instead of
            all `max_length` positions (same embeddings, much faster for short titles).
            Set False where static shapes are needed (TPU, XLA). Defaults to True.
        tokenizer_implementation: str. `"fast"` or `"wordpiece"`: the `BertTokenizerLayer`
            implementation (same token ids; `"wordpiece"` has no FastBert ops, for stock TF
            Serving). Defaults to `"fast"`.
        **kwargs: passed to `keras.layers.Layer`.

    Call args:
        inputs: a `tf.string` tensor `[batch]` or `[batch, 1]` of raw texts, or a dict of
            already tokenized `input_ids`, `attention_mask` and `token_type_ids`
            (e.g. made by `encoder.tokenizer` inside `tf.data`).
        training: bool. Whether BERT runs in training mode (ignored when frozen).

    Example:
    ```python
    encoder = TextEncoder("minilm", max_length=32, pooling="mean", normalize=True)
    vectors = encoder(tf.constant(["running shoes", "frying pan"]))  # (2, 384)
    vectors = encoder.encode_texts(["running shoes", "frying pan"], batch_size=256)
    ```
    """

    def __init__(
        self,
        checkpoint: str = "minilm",
        max_length: int = 32,
        pooling: str = "mean",
        mode: str = "frozen",
        trainable_layers: int = 2,
        normalize: bool = False,
        trim_padding: bool = True,
        tokenizer_implementation: str = "fast",
        **kwargs,
    ):
        shared_bert = kwargs.pop("_shared_bert", None)  # see `with_tokenizer`
        super().__init__(**kwargs)
        if mode not in TRAINABLE_MODES:
            raise ValueError(
                f"`mode` must be one of {', '.join(TRAINABLE_MODES)}. Received: mode={mode!r}"
            )
        self.checkpoint = os.fspath(checkpoint)
        self.max_length = max_length
        self.pooling = pooling
        self.mode = mode
        self.trainable_layers = trainable_layers
        self.normalize = normalize
        self.trim_padding = trim_padding
        self.tokenizer_implementation = tokenizer_implementation
        path = resolve_checkpoint(self.checkpoint)
        if shared_bert is None:
            self.bert = load_bert(path, trainable_mode=mode, trainable_layers=trainable_layers)
        else:
            self.bert = shared_bert
        self.tokenizer = BertTokenizerLayer(
            path / "vocab.txt",
            max_length,
            implementation=tokenizer_implementation,
            name="tokenizer",
        )
        self.pooler = Pooling(pooling, name="pooling")
        self.hidden_size = int(self.bert.config.hidden_size)
        if mode == "frozen":
            self.trainable = False

    def with_tokenizer(self, implementation: str, name: str | None = None) -> TextEncoder:
        """A TextEncoder that runs this one's BERT (the same layer and weights, not a copy) with
        a tokenizer of another `implementation`; e.g. `"wordpiece"` for a SavedModel meant for
        stock TF Serving. Its config round-trips to an encoder loaded from the checkpoint."""
        config = self.get_config()
        config.update(
            tokenizer_implementation=implementation, name=name or f"{self.name}_{implementation}"
        )
        return type(self)(**config, _shared_bert=self.bert)

    def apply_trainable_mode(self) -> None:
        """Restore the `mode`'s trainable parts, e.g. after a parent set `trainable = True`."""
        self.trainable = self.mode != "frozen"
        set_trainable_mode(self.bert, self.mode, self.trainable_layers)

    @property
    def frozen_layers(self) -> int:
        """How many of BERT's bottom encoder layers never train: all of them when `frozen`,
        all but `trainable_layers` with `top_k_layers`, none with `full` (the embeddings train
        too in `full`; they never do in the other modes)."""
        layers = len(self.bert.bert.encoder.layer)
        return {"frozen": layers, "top_k_layers": layers - self.trainable_layers, "full": 0}[
            self.mode
        ]

    def _tokens(self, inputs) -> dict:
        if isinstance(inputs, dict):
            missing = [k for k in TOKEN_KEYS if k not in inputs]
            if missing:
                raise ValueError(
                    f"{self.name} got a dict of tokens without {', '.join(missing)}; "
                    f"it needs {', '.join(TOKEN_KEYS)} or a tf.string tensor of raw texts"
                )
            tokens = {k: inputs[k] for k in TOKEN_KEYS}
        else:
            tokens = self.tokenizer(inputs)
        if self.trim_padding:
            longest = tf.reduce_max(tf.reduce_sum(tf.cast(tokens["attention_mask"], tf.int32), 1))
            tokens = {k: v[:, : tf.maximum(longest, 1)] for k, v in tokens.items()}
        return tokens

    def _run_layers(self, hidden, attention_mask, start, stop, training) -> tf.Tensor:
        """BERT's encoder layers `start:stop` on hidden states, with the additive attention mask
        `TFBertMainLayer` builds ((1 - mask) * -10000 over the key positions)."""
        layers = self.bert.bert.encoder.layer[start:stop]
        if not layers:
            return hidden
        mask = tf.cast(attention_mask, hidden.dtype)[:, tf.newaxis, tf.newaxis, :]
        additive = (tf.constant(1.0, hidden.dtype) - mask) * tf.constant(-10000.0, hidden.dtype)
        for layer in layers:
            hidden = layer(
                hidden_states=hidden,
                attention_mask=additive,
                head_mask=None,
                encoder_hidden_states=None,
                encoder_attention_mask=None,
                past_key_value=None,
                output_attentions=False,
                training=training,
            )[0]
        return hidden

    def _pool(self, hidden, attention_mask) -> tf.Tensor:
        pooled = self.pooler(hidden, attention_mask)
        if self.normalize:
            pooled = tf.math.l2_normalize(pooled, axis=-1)
        return pooled

    def call(self, inputs, training=None) -> tf.Tensor:
        # BERT runs as `TFBertMainLayer` does (embeddings, then the encoder layers), split where
        # the frozen bottom ends: frozen parts run in inference mode (no dropout) whatever
        # `training` is, so they give the same states as `frozen_states` and its cache.
        tokens = self._tokens(inputs)
        mask = tokens["attention_mask"]
        full = self.mode == "full"
        hidden = self.bert.bert.embeddings(
            input_ids=tokens["input_ids"],
            token_type_ids=tokens["token_type_ids"],
            training=training if full else False,
        )
        split = self.frozen_layers
        hidden = self._run_layers(hidden, mask, 0, split, training if full else False)
        return self.encode_frozen_states(hidden, mask, training=training)

    def frozen_states(self, inputs) -> dict:
        """The hidden states after the frozen bottom (embeddings and the first `frozen_layers`
        encoder layers, inference mode): what never changes in training, so it can be computed
        once per text (`tfrec.text.layer_cache.FrozenLayerCache`).

        Args:
            inputs: raw texts or a dict of tokens, as for `call`.

        Returns:
            `{"hidden_states": [batch, length, hidden], "attention_mask": [batch, length]}`,
            `length` trimmed to the longest text of the batch when `trim_padding`.

        Raises:
            ValueError: in `full` mode, where the embeddings train (nothing is fixed).

        Example:
        ```python
        encoder = TextEncoder("minilm", mode="top_k_layers", trainable_layers=2)
        states = encoder.frozen_states(tf.constant(["red mug"]))
        vectors = encoder.encode_frozen_states(**states)  # == encoder(tf.constant(["red mug"]))
        ```
        """
        if self.mode == "full":
            raise ValueError(
                f"{self.name}: mode `full` trains BERT's embeddings, so no hidden states are "
                "fixed; frozen states exist in modes frozen and top_k_layers"
            )
        tokens = self._tokens(inputs)
        mask = tokens["attention_mask"]
        hidden = self.bert.bert.embeddings(
            input_ids=tokens["input_ids"], token_type_ids=tokens["token_type_ids"], training=False
        )
        hidden = self._run_layers(hidden, mask, 0, self.frozen_layers, training=False)
        return {"hidden_states": hidden, "attention_mask": mask}

    def encode_frozen_states(self, hidden_states, attention_mask, training=None) -> tf.Tensor:
        """The pooled embedding from `frozen_states`: the trained top layers, pooling and
        normalization (the same computation as the rest of `call`).

        Args:
            hidden_states: float `[batch, length, hidden]`, the output of the frozen bottom.
            attention_mask: int `[batch, length]`, 1 for real tokens.
            training: whether the trained layers run in training mode (dropout); ignored when
                frozen.

        Returns:
            float32 `[batch, hidden]`.
        """
        training = False if self.mode == "frozen" else training
        hidden = self._run_layers(hidden_states, attention_mask, self.frozen_layers, None, training)
        return self._pool(hidden, attention_mask)

    def encode_texts(
        self, texts: Sequence[str], batch_size: int = 256, progress: bool = True
    ) -> np.ndarray:
        """Encode a list of texts in batches (inference mode); float32 `[len(texts), hidden]`.

        Args:
            texts: the raw texts.
            batch_size: texts per forward pass.
            progress: show a tqdm progress bar.
        """
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
        bad = next(((i, t) for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise TypeError(
                f"encode_texts takes strings; texts[{bad[0]}] is {type(bad[1]).__name__}: "
                f"{bad[1]!r}"
            )
        if len(texts) == 0:
            return np.zeros((0, self.hidden_size), np.float32)
        encode = self._encode_function()
        out = np.empty((len(texts), self.hidden_size), np.float32)
        starts = range(0, len(texts), batch_size)
        for start in tqdm(
            starts, desc=f"encoding texts ({self.name})", unit="batch", disable=not progress
        ):
            batch = tf.constant(list(texts[start : start + batch_size]), dtype=tf.string)
            out[start : start + len(batch)] = encode(batch).numpy()
        return out

    def _encode_function(self):
        # Kept outside the layer's tracked attributes so it is not part of saved objects.
        function = _ENCODE_FUNCTIONS.get(self)
        if function is None:
            layer = weakref.ref(self)
            function = tf.function(
                lambda texts: layer()(texts, training=False),
                input_signature=[tf.TensorSpec([None], tf.string)],
            )
            _ENCODE_FUNCTIONS[self] = function
        return function

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            input_shape = input_shape["input_ids"]
        return tf.TensorShape([tf.TensorShape(input_shape)[0], self.hidden_size])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "checkpoint": self.checkpoint,
                "max_length": self.max_length,
                "pooling": self.pooling,
                "mode": self.mode,
                "trainable_layers": self.trainable_layers,
                "normalize": self.normalize,
                "trim_padding": self.trim_padding,
                "tokenizer_implementation": self.tokenizer_implementation,
            }
        )
        return config


_ENCODE_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
