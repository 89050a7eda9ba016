"""A BERT cross-encoder re-ranker: "query [SEP] title" -> one relevance score.

Unlike the two towers, which embed the query and the item apart and compare the vectors, a
cross-encoder reads the query and the item's title together, so every layer's attention can
match query words against title words. That is far more expensive (one BERT pass per (query,
item) pair), so it re-ranks only the top few retrieved candidates.

Tokenization is in the graph, as `tfrec.text.BertTokenizerLayer` does it for one text: the
query becomes `[CLS] query [SEP]` (at most `query_length` tokens), the title `title [SEP]`
(the rest of `max_length`), joined into one sequence with token type 0 for the query part and
1 for the title part, as BERT's sentence-pair input is. The pooled last hidden state (mean over
real tokens by default, as all-MiniLM-L6-v2 was trained) goes through dropout and a dense layer
to the score. The lower BERT layers stay frozen and the top `trainable_layers` are fine-tuned
(0: BERT frozen, only the head trains), which keeps training affordable on CPU.

It is trained with `tfrec.models.listwise.ListwiseSoftmaxLoss` on the same judged lists as
the listwise ranker (`tfrec.training.judgments`).
"""

from __future__ import annotations

import os

import tensorflow as tf
import tf_keras as keras

from tfrec.models.listwise import ListwiseSoftmaxLoss
from tfrec.text.backbone import load_bert, resolve_checkpoint
from tfrec.text.pooling import Pooling
from tfrec.text.tokenizer import BertTokenizerLayer


@keras.utils.register_keras_serializable(package="tfrec")
class CrossEncoder(keras.Model):
    """BERT over "query [SEP] title" pairs -> relevance scores.

    Call with a dict of `query` and `title` string tensors of the same shape (`[B]` pairs, or
    `[B, L]`: B queries with L candidates each); returns float scores of that shape.

    Args:
        checkpoint: str. `"minilm"` or a local Hugging Face BERT directory (see
            `tfrec.text.resolve_checkpoint`). Defaults to `"minilm"`.
        max_length: int. Tokens of one pair, [CLS] and both [SEP] included. Defaults to 48.
        query_length: int. The most tokens the query part takes ([CLS] and its [SEP]
            included); the title gets the rest. Defaults to 12.
        trainable_layers: int. Top encoder layers that are fine-tuned (0 = BERT frozen).
            Defaults to 2.
        pooling: str. `"mean"` or `"cls"`. Defaults to `"mean"`.
        dropout: float. Dropout before the score layer while training. Defaults to 0.1.
        learning_rate: float. Adam learning rate (`compile_default`). Defaults to 1e-4.
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Example:
        >>> model = CrossEncoder("minilm", max_length=32, trainable_layers=1)  # doctest: +SKIP
        >>> model({"query": tf.constant([["red mug", "red mug"]]),
        ...        "title": tf.constant([["Red coffee mug", "Blue tent"]])}).shape  # doctest: +SKIP
        TensorShape([1, 2])
    """

    def __init__(
        self,
        checkpoint: str = "minilm",
        max_length: int = 48,
        query_length: int = 12,
        trainable_layers: int = 2,
        pooling: str = "mean",
        dropout: float = 0.1,
        learning_rate: float = 1e-4,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 3 <= query_length <= max_length - 2:
            raise ValueError(
                f"`query_length` must be between 3 and max_length - 2 ({max_length - 2}) so the "
                f"title has room. Received: query_length={query_length}, max_length={max_length}"
            )
        if trainable_layers < 0:
            raise ValueError(
                f"`trainable_layers` must be >= 0. Received: trainable_layers={trainable_layers}"
            )
        self.checkpoint = os.fspath(checkpoint)
        self.max_length = int(max_length)
        self.query_length = int(query_length)
        self.trainable_layers = int(trainable_layers)
        self.pooling = pooling
        self.dropout = float(dropout)
        self.learning_rate = float(learning_rate)
        path = resolve_checkpoint(self.checkpoint)
        mode = "top_k_layers" if trainable_layers > 0 else "frozen"
        self.bert = load_bert(path, trainable_mode=mode, trainable_layers=max(trainable_layers, 1))
        vocab = path / "vocab.txt"
        self.query_tokenizer = BertTokenizerLayer(vocab, self.query_length, name="query_tokens")
        # the title's own [CLS] is dropped when the pair is joined, so it gets one token more
        self.title_tokenizer = BertTokenizerLayer(
            vocab, self.max_length - self.query_length + 1, name="title_tokens"
        )
        self.pooler = Pooling(pooling, name="pooling")
        self.drop = keras.layers.Dropout(self.dropout)
        self.head = keras.layers.Dense(1, name="score")

    def pair_tokens(self, query: tf.Tensor, title: tf.Tensor) -> dict[str, tf.Tensor]:
        """`[CLS] query [SEP] title [SEP]` of flat string tensors [M]: `input_ids`,
        `attention_mask` and `token_type_ids` [M, max_length] int32, padded with [PAD]."""
        q = self.query_tokenizer(query)
        t = self.title_tokenizer(title)
        q_len = tf.reduce_sum(q["attention_mask"], axis=1)
        t_len = tf.reduce_sum(t["attention_mask"], axis=1) - 1
        q_ids = tf.RaggedTensor.from_tensor(q["input_ids"], lengths=q_len)
        t_ids = tf.RaggedTensor.from_tensor(t["input_ids"][:, 1:], lengths=t_len)
        ids = tf.concat([q_ids, t_ids], axis=1)
        types = tf.concat([tf.zeros_like(q_ids), tf.ones_like(t_ids)], axis=1)
        shape = [None, self.max_length]
        pad = self.query_tokenizer.pad_id
        return {
            "input_ids": ids.to_tensor(default_value=pad, shape=shape),
            "attention_mask": tf.ones_like(ids).to_tensor(default_value=0, shape=shape),
            "token_type_ids": types.to_tensor(default_value=0, shape=shape),
        }

    def call(self, inputs: dict, training: bool = False) -> tf.Tensor:
        missing = [k for k in ("query", "title") if k not in inputs]
        if missing:
            raise ValueError(
                f"CrossEncoder inputs are missing: {', '.join(missing)} (it needs `query` and "
                "`title` string tensors of the same shape)"
            )
        query = tf.convert_to_tensor(inputs["query"])
        title = tf.convert_to_tensor(inputs["title"])
        shape = tf.shape(title)
        tokens = self.pair_tokens(tf.reshape(query, [-1]), tf.reshape(title, [-1]))
        longest = tf.reduce_max(tf.reduce_sum(tokens["attention_mask"], axis=1))
        tokens = {k: v[:, : tf.maximum(longest, 1)] for k, v in tokens.items()}
        states = self.bert(
            input_ids=tokens["input_ids"],
            attention_mask=tokens["attention_mask"],
            token_type_ids=tokens["token_type_ids"],
            training=training and self.trainable_layers > 0,
        ).last_hidden_state
        pooled = self.drop(self.pooler(states, tokens["attention_mask"]), training=training)
        return tf.reshape(self.head(pooled)[:, 0], shape)

    def compile_default(self) -> None:
        """Adam at `learning_rate` with `ListwiseSoftmaxLoss` (lists of [B, L] pairs)."""
        self.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate), loss=ListwiseSoftmaxLoss()
        )

    def get_config(self) -> dict:
        return {
            "checkpoint": self.checkpoint,
            "max_length": self.max_length,
            "query_length": self.query_length,
            "trainable_layers": self.trainable_layers,
            "pooling": self.pooling,
            "dropout": self.dropout,
            "learning_rate": self.learning_rate,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> CrossEncoder:
        return cls(**config)
