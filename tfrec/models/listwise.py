"""Learning to rank from graded judgments: the listwise loss and the listwise ranker.

A training example is one query's list of candidates with graded relevance labels (>= 0;
-1 marks padding). `ListwiseSoftmaxLoss` is the softmax cross-entropy between the scores'
softmax over the list and the labels' gains normalised into a distribution (ListNet with the
top-one probability, the "softmax loss" of TF-Ranking):

    loss(list) = - sum_i  g_i / sum_j g_j  *  log softmax(s)_i,   g_i = relevance_i

over the list's real items. It was chosen over ListMLE and pairwise logistic loss because
- it takes graded gains as they are (ListMLE needs one total order and graded labels are full
  of ties that it breaks at random; pairwise loss only sees the sign of each difference);
- it bounds NDCG from above up to a constant (Bruch et al., 2019, "An analysis of the softmax
  cross entropy loss for learning-to-rank with binary relevance"; with gains = the NDCG gains it
  is the ListNet bound), so lowering it lifts the metric the evaluation reports;
- it costs O(list) per list (pairwise costs O(list^2)).
The gains are the relevance grades themselves, the same linear gains `tfrec.evaluation.metrics
.ndcg` is computed with. A list with no relevant item gives no gradient (the trainer drops it).

`ListwiseRanker` scores each (query, candidate) of a list with an MLP over the frozen
retrieval towers' query and item embeddings, their element-wise product, learnt embeddings of
the item's category levels, brand and price bucket, and per-pair scores (`list_features`: the
retrieval logit, BM25, the zero-shot cosine ...), each standardised within its list and also
fed through a linear skip, so the model starts close to a weighted sum of those scores.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

PAD_LABEL = -1.0
LIST_INPUTS = (
    "query_embedding",
    "item_embedding",
    "category",
    "brand",
    "price_bucket",
    "list_features",
    "mask",
)


@keras.utils.register_keras_serializable(package="tfrec")
class ListwiseSoftmaxLoss(keras.losses.Loss):
    """Softmax cross-entropy of a list's scores against its graded labels (see the module).

    Labels are the relevance grades (>= 0) with `-1` at padded positions, which are left out
    of the softmax. The loss of a list is its own cross-entropy; Keras averages over lists.

    Args:
        name: str. Defaults to `"listwise_softmax"`.
        **kwargs: passed to `keras.losses.Loss` (e.g. `reduction`).

    Example:
        >>> loss = ListwiseSoftmaxLoss()
        >>> round(float(loss([[1.0, 0.0, -1.0]], [[2.0, 2.0, 9.0]])), 4)  # log 2
        0.6931
    """

    def __init__(self, name: str = "listwise_softmax", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_true = tf.cast(y_true, tf.float32)
        y_pred = tf.cast(y_pred, tf.float32)
        valid = y_true > PAD_LABEL / 2
        gains = tf.where(valid, y_true, 0.0)
        total = tf.reduce_sum(gains, axis=-1, keepdims=True)
        target = tf.math.divide_no_nan(gains, total)
        logits = tf.where(valid, y_pred, tf.fill(tf.shape(y_pred), -1e9))
        log_p = tf.nn.log_softmax(logits, axis=-1)
        return -tf.reduce_sum(tf.where(valid, target * log_p, 0.0), axis=-1)


def _masked_standardise(x: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """x [B, L, F] standardised per list and feature over the real items (mask [B, L])."""
    m = mask[..., None]
    n = tf.maximum(tf.reduce_sum(m, axis=1, keepdims=True), 1.0)
    mean = tf.reduce_sum(x * m, axis=1, keepdims=True) / n
    var = tf.reduce_sum(tf.square(x - mean) * m, axis=1, keepdims=True) / n
    return (x - mean) * tf.math.rsqrt(var + 1e-6) * m


@keras.utils.register_keras_serializable(package="tfrec")
class ListwiseRanker(keras.Model):
    """Scores the candidates of query lists; trained with `ListwiseSoftmaxLoss`.

    Inputs (a dict; B lists of L candidates, D the towers' width, F the per-pair scores):
    `query_embedding` [B, D], `item_embedding` [B, L, D], `category` [B, L, levels],
    `brand` [B, L], `price_bucket` [B, L], `list_features` [B, L, F] and `mask` [B, L]
    (1 = a real candidate, 0 = padding). Output: scores [B, L], -1e9 at padding.

    Args:
        category_vocab_sizes: list of int. Vocabulary size per category level.
        brand_vocab_size: int. Brand vocabulary size (index 0 = unknown).
        num_price_buckets: int. Price buckets including bucket 0 (unknown).
        list_feature_names: list of str. Names of the `list_features` columns, in order
            (saved with the model so a caller builds them the same way). Defaults to [].
        feature_dim: int. Size of the categorical embeddings. Defaults to 8.
        hidden_layers: list of int. Hidden sizes of the scoring MLP. Defaults to [64, 32].
        dropout: float. Dropout after each hidden layer while training. Defaults to 0.1.
        learning_rate: float. Adam learning rate (`compile_default`). Defaults to 1e-3.
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Example:
        >>> model = ListwiseRanker([3, 4, 5], 6, 7, list_feature_names=["retrieval_logit"])
        >>> scores = model({
        ...     "query_embedding": tf.zeros([2, 8]), "item_embedding": tf.zeros([2, 5, 8]),
        ...     "category": tf.ones([2, 5, 3], tf.int64), "brand": tf.ones([2, 5], tf.int64),
        ...     "price_bucket": tf.ones([2, 5], tf.int64),
        ...     "list_features": tf.zeros([2, 5, 1]), "mask": tf.ones([2, 5])})
        >>> scores.shape
        TensorShape([2, 5])
    """

    def __init__(
        self,
        category_vocab_sizes: list[int],
        brand_vocab_size: int,
        num_price_buckets: int,
        list_feature_names: list[str] | None = None,
        feature_dim: int = 8,
        hidden_layers: list[int] | None = None,
        dropout: float = 0.1,
        learning_rate: float = 1e-3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.category_vocab_sizes = [int(v) for v in category_vocab_sizes]
        self.brand_vocab_size = int(brand_vocab_size)
        self.num_price_buckets = int(num_price_buckets)
        self.list_feature_names = list(list_feature_names or [])
        self.feature_dim = int(feature_dim)
        self.hidden_layers = [int(h) for h in (hidden_layers or [64, 32])]
        self.dropout = float(dropout)
        self.learning_rate = float(learning_rate)
        self.category_embeddings = [
            keras.layers.Embedding(v, feature_dim, name=f"category_{i}")
            for i, v in enumerate(self.category_vocab_sizes)
        ]
        self.brand_embedding = keras.layers.Embedding(brand_vocab_size, feature_dim, name="brand")
        self.price_embedding = keras.layers.Embedding(
            num_price_buckets, feature_dim, name="price_bucket"
        )
        self.query_norm = keras.layers.LayerNormalization(name="query_norm")
        self.item_norm = keras.layers.LayerNormalization(name="item_norm")
        self.mlp = [
            keras.layers.Dense(h, activation="relu", name=f"hidden_{i}")
            for i, h in enumerate(self.hidden_layers)
        ]
        self.drop = keras.layers.Dropout(self.dropout)
        self.out = keras.layers.Dense(1, name="score")
        self.skip = keras.layers.Dense(1, use_bias=False, name="list_feature_skip")

    def call(self, inputs: dict, training: bool = False) -> tf.Tensor:
        missing = [k for k in LIST_INPUTS if k not in inputs]
        if missing:
            raise ValueError(
                f"ListwiseRanker inputs are missing: {', '.join(missing)} (it needs "
                f"{', '.join(LIST_INPUTS)})"
            )
        mask = tf.cast(inputs["mask"], tf.float32)
        items = self.item_norm(tf.cast(inputs["item_embedding"], tf.float32))
        length = tf.shape(items)[1]
        query = self.query_norm(tf.cast(inputs["query_embedding"], tf.float32))
        query = tf.tile(query[:, None, :], [1, length, 1])
        category = tf.cast(inputs["category"], tf.int64)
        parts = [query, items, query * items]
        parts += [emb(category[..., i]) for i, emb in enumerate(self.category_embeddings)]
        parts.append(self.brand_embedding(tf.cast(inputs["brand"], tf.int64)))
        parts.append(self.price_embedding(tf.cast(inputs["price_bucket"], tf.int64)))
        feats = tf.cast(inputs["list_features"], tf.float32)
        if len(self.list_feature_names):
            feats = _masked_standardise(feats, mask)
            parts.append(feats)
        x = tf.concat(parts, axis=-1)
        for layer in self.mlp:
            x = self.drop(layer(x), training=training)
        score = self.out(x)[..., 0]
        if len(self.list_feature_names):
            score += self.skip(feats)[..., 0]
        return tf.where(mask > 0, score, tf.fill(tf.shape(score), -1e9))

    def compile_default(self) -> None:
        """Adam at `learning_rate` with `ListwiseSoftmaxLoss`."""
        self.compile(
            optimizer=keras.optimizers.Adam(self.learning_rate), loss=ListwiseSoftmaxLoss()
        )

    def get_config(self) -> dict:
        return {
            "category_vocab_sizes": self.category_vocab_sizes,
            "brand_vocab_size": self.brand_vocab_size,
            "num_price_buckets": self.num_price_buckets,
            "list_feature_names": self.list_feature_names,
            "feature_dim": self.feature_dim,
            "hidden_layers": self.hidden_layers,
            "dropout": self.dropout,
            "learning_rate": self.learning_rate,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> ListwiseRanker:
        return cls(**config)
