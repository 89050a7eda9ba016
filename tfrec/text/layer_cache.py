"""FrozenLayerCache: the frozen bottom of a `top_k_layers` BERT run once per text, so a training
step runs only the trained top layers."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from tfrec.core.log import echo
from tfrec.text.tokenizer import TOKEN_KEYS

CACHE_DTYPES = ("float32", "float16")


class FrozenLayerCache:
    """The hidden states after a `TextEncoder`'s frozen bottom (`TextEncoder.frozen_states`:
    the embeddings and the lower `frozen_layers` encoder layers, which never change in
    `top_k_layers` training) for a fixed list of texts, and the encoder's top run on them.

    Each text keeps the states of its real tokens only (no padding), in one flat table
    `[total tokens, hidden]` with row splits; a batch gathers its rows, pads them to the
    longest of the batch and runs the trained layers and pooling
    (`TextEncoder.encode_frozen_states`). With `float32` storage the result equals the encoder
    on the raw text up to float rounding (it is the same computation, split in two); `float16`
    halves the memory and rounds the stored states to 3 significant digits. The tables are
    plain variables held by a plain object: not in the model's weights, checkpoints or
    SavedModels (a model is exported and served with the full encoder on raw strings).

    Args:
        encoder: a `TextEncoder` in mode `top_k_layers` (or `frozen`).
        texts: the texts, one per row (row i of the cache is `texts[i]`).
        dtype: `"float32"` or `"float16"`: how the states are stored. Defaults to `"float32"`.
        batch_size: texts per forward pass while filling the cache. Defaults to 256.
        progress: show a progress bar while filling. Defaults to True.
        name: what the texts are, for the log line. Defaults to `"texts"`.

    Call args:
        rows: int tensor `[batch]` of row indices into `texts`.
        training: whether the trained top layers run in training mode (dropout).

    Example:
    ```python
    encoder = TextEncoder("minilm", mode="top_k_layers", trainable_layers=2)
    cache = FrozenLayerCache(encoder, ["red mug", "blue shoes"])
    vectors = cache(tf.constant([1, 0]))  # == encoder(tf.constant(["blue shoes", "red mug"]))
    ```
    """

    def __init__(
        self,
        encoder,
        texts: Sequence[str],
        dtype: str = "float32",
        batch_size: int = 256,
        progress: bool = True,
        name: str = "texts",
    ):
        if dtype not in CACHE_DTYPES:
            raise ValueError(
                f"`dtype` must be one of {', '.join(CACHE_DTYPES)}. Received: dtype={dtype!r}"
            )
        if encoder.mode not in ("frozen", "top_k_layers"):
            raise ValueError(
                f"a frozen-layer cache needs an encoder in mode top_k_layers (or frozen); "
                f"{encoder.name} is in mode {encoder.mode!r}, where the embeddings train"
            )
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1. Received: batch_size={batch_size}")
        if len(texts) == 0:
            raise ValueError(f"a frozen-layer cache of {name} needs at least one text")
        bad = next(((i, t) for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise TypeError(
                f"a frozen-layer cache of {name} takes strings; texts[{bad[0]}] is "
                f"{type(bad[1]).__name__}: {bad[1]!r}"
            )
        self.encoder = encoder
        self.dtype = dtype
        self.name = name
        t0 = time.perf_counter()
        values, row_splits = self._fill(list(texts), batch_size, progress)
        self.seconds = time.perf_counter() - t0
        self.num_texts = len(texts)
        self.num_tokens = int(row_splits[-1])
        self.nbytes = int(values.nbytes + row_splits.nbytes)
        self.values = tf.Variable(values, trainable=False, name=f"frozen_states_{dtype}")
        self.row_splits = tf.Variable(row_splits, trainable=False, name="frozen_states_splits")
        echo(
            f"[text] frozen-layer cache of {name}: {self.num_texts} texts, {self.num_tokens} "
            f"tokens, {self.nbytes / 2**20:.1f} MiB ({dtype}); embeddings and layers "
            f"1-{encoder.frozen_layers} of {len(encoder.bert.bert.encoder.layer)} run once in "
            f"{self.seconds:.1f} s, training runs the top {encoder.trainable_layers}"
        )

    def _fill(self, texts: list[str], batch_size: int, progress: bool):
        """The states of every text's real tokens, texts in order, and their row splits."""
        tokens = {key: [] for key in TOKEN_KEYS}
        for start in range(0, len(texts), 4096):
            part = self.encoder.tokenizer(tf.constant(texts[start : start + 4096]))
            for key in TOKEN_KEYS:
                tokens[key].append(part[key].numpy())
        tokens = {key: np.concatenate(parts) for key, parts in tokens.items()}
        lengths = tokens["attention_mask"].sum(axis=1).astype(np.int64)
        row_splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        hidden = int(self.encoder.hidden_size)
        values = np.empty((int(row_splits[-1]), hidden), self.dtype)
        spec = tf.TensorSpec([None, None], tf.int32)
        run = tf.function(
            lambda ids, mask, types: self.encoder.frozen_states(
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            )["hidden_states"],
            input_signature=[spec, spec, spec],
        )
        # texts of similar length together: each batch is padded only to its longest
        order = np.argsort(lengths, kind="stable")
        starts = range(0, len(texts), batch_size)
        for start in tqdm(
            starts, desc=f"frozen layers ({self.name})", unit="batch", disable=not progress
        ):
            rows = order[start : start + batch_size]
            width = max(int(lengths[rows].max()), 1)
            states = run(*(tf.constant(tokens[key][rows, :width]) for key in TOKEN_KEYS))
            states = states.numpy()
            for j, row in enumerate(rows):
                values[row_splits[row] : row_splits[row + 1]] = states[j, : lengths[row]]
        return values, row_splits

    def __call__(self, rows, training=None) -> tf.Tensor:
        rows = tf.cast(tf.reshape(rows, [-1]), tf.int64)
        table = tf.RaggedTensor.from_row_splits(self.values, self.row_splits, validate=False)
        picked = tf.gather(table, rows)
        width = None if self.encoder.trim_padding else self.encoder.max_length
        states = picked.to_tensor(shape=[None, width, self.encoder.hidden_size])
        mask = tf.sequence_mask(picked.row_lengths(), tf.shape(states)[1], dtype=tf.int32)
        return self.encoder.encode_frozen_states(
            tf.cast(states, tf.float32), mask, training=training
        )
