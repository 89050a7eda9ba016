"""The two towers of the retrieval model: QueryTower (queries and users) and ItemTower (items).

Text enters either as raw strings, run through a `TextEncoder` (BERT, tokenizer in the graph),
or as a precomputed text embedding of the same encoder (frozen mode, where embeddings are
computed once and cached). Both paths share every weight after the text encoder, so a tower
trained on cached embeddings serves raw strings with the same outputs.

With `text_residual`, each tower's output is `l2_normalize(P t + f(x))` in the text space: `t`
the unit-length text embedding (for a query-less feed request: the mean of the recent items'
embeddings), `P` a square projection initialised to the identity, `f(x)` the learnt part
(features, ids, history) whose output layer starts at zero. Untrained, the dot product of a query
and an item is then exactly the cosine of their texts, the zero-shot encoder's score; training
starts from the backbone and moves away from it only as far as the data pays for it. (A sum, not
a concatenation: with both learnt halves at zero, each one's gradient would be the other's zero.)
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


def _mlp(layers: list[int], name: str) -> list[keras.layers.Layer]:
    return [
        keras.layers.Dense(units, activation="gelu", name=f"{name}_{i}")
        for i, units in enumerate(layers)
    ]


def _output_layer(units: int, text_residual: bool, name: str) -> keras.layers.Dense:
    """The learnt part's output layer: zero-initialised beside a text residual, so the untrained
    tower is its text path alone."""
    init = "zeros" if text_residual else "glorot_uniform"
    return keras.layers.Dense(units, kernel_initializer=init, name=name)


def _text_projection(text_dim: int, name: str) -> keras.layers.Dense:
    return keras.layers.Dense(text_dim, use_bias=False, kernel_initializer="identity", name=name)


def _unit(x: tf.Tensor) -> tf.Tensor:
    return tf.math.l2_normalize(tf.cast(x, tf.float32), axis=-1)


def _drop_ids(ids: tf.Tensor, rate: float, training: bool) -> tf.Tensor:
    """While training, replace a `rate` share of ids by 0 (none), so the tower learns to serve
    items and users without one."""
    if not training or rate <= 0:
        return ids
    keep = tf.random.uniform(tf.shape(ids)) >= rate
    return tf.where(keep, ids, tf.zeros_like(ids))


class _Tower(keras.layers.Layer):
    """What both towers share: the optional text residual (module docstring) and the output."""

    def _init_output(self, embedding_dim: int, text_residual: bool, text_dim: int, side: str):
        if text_residual and text_dim <= 0:
            raise ValueError(f"`text_residual` needs `text_dim` > 0. Received: text_dim={text_dim}")
        self.embedding_dim = embedding_dim
        self.text_residual = text_residual
        self.text_dim = text_dim
        self.output_layer = _output_layer(self.output_dim, text_residual, f"{side}_output")
        self.text_projection = (
            _text_projection(text_dim, f"{side}_text_projection") if text_residual else None
        )

    @property
    def output_dim(self) -> int:
        """Width of the output embedding."""
        return self.text_dim if self.text_residual else self.embedding_dim


@keras.utils.register_keras_serializable(package="tfrec")
class ItemTower(_Tower):
    """Maps item features to an L2-normalised embedding.

    Inputs (a dict): `text_embedding` [B, H] (the text encoder's pooled title+description),
    `category` [B, 3] int (one index per taxonomy level, 0 = unknown), `brand` [B] int,
    `price_bucket` [B] int; with `num_items`, optionally `item_idx` [B] int (catalog row; 0 or
    absent = no id, the content path alone, as for items added after training).

    Args:
        embedding_dim: int. Size of the output embedding.
        projection_layers: list of int. Hidden sizes of the projection MLP.
        category_vocab_sizes: list of int. Vocabulary size per category level.
        brand_vocab_size: int. Brand vocabulary size (index 0 = unknown).
        num_price_buckets: int. Price buckets including bucket 0 (unknown).
        feature_dim: int. Size of the category, brand and price embeddings. Defaults to 32.
        text_dropout: float. Dropout on the text embedding while training. Defaults to 0.1.
        extra_categorical_vocab_sizes: list of int. Vocabulary size of each config-declared
            categorical feature (input `extra_categorical` [B, C]). Defaults to none.
        num_numeric_features: int. Number of config-declared numeric features (input
            `extra_numeric` [B, M], standardised). Defaults to 0.
        text_residual: bool. Keep the text similarity as an identity-initialised path beside
            the learnt part (see the module docstring); the output is then `text_dim` wide and
            `embedding_dim` is not used. Defaults to False.
        text_dim: int. Width H of the text embedding (needed with `text_residual`).
        num_items: int. Catalog rows for a learnt item-id embedding (`feature_dim` wide,
            zero-initialised); 0 = none. Defaults to 0.
        id_dropout: float. While training, the share of items whose id embedding is dropped,
            so the content path learns to serve items without one. Defaults to 0.

    With `num_items`, the tower also holds `cold_boost` (a non-trainable scalar, 0 until set
    after training, e.g. by `tfrec.evaluation.cold_boost.ColdBoostChooser`): outside training
    the embedding of a new item is scaled by `1 + cold_boost`, which multiplies its dot-product
    scores. New items are those with input `is_new` [B] = 1 (the retrieval model's catalog
    marks items without training interactions that were not launched before the training
    cutoff), or, without that input, those without an id (added after training). Id embeddings
    and the training they come from favour items with history; the boost gives new items back
    the place their content earns (`boost_cold=False` in `call` leaves it out, as for history
    items on the query side).

    Example:

    >>> tower = ItemTower(32, [64], [5, 9, 17], 11, 12)
    >>> out = tower({"text_embedding": tf.zeros([2, 384]), "category": tf.ones([2, 3], tf.int64),
    ...              "brand": tf.ones([2], tf.int64), "price_bucket": tf.ones([2], tf.int64)})
    >>> out.shape
    TensorShape([2, 32])
    """

    def __init__(
        self,
        embedding_dim: int,
        projection_layers: list[int],
        category_vocab_sizes: list[int],
        brand_vocab_size: int,
        num_price_buckets: int,
        feature_dim: int = 32,
        text_dropout: float = 0.1,
        extra_categorical_vocab_sizes: list[int] = (),
        num_numeric_features: int = 0,
        text_residual: bool = False,
        text_dim: int = 0,
        num_items: int = 0,
        id_dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0 <= id_dropout < 1:
            raise ValueError(f"`id_dropout` must be in [0, 1). Received: id_dropout={id_dropout}")
        self._init_output(embedding_dim, text_residual, text_dim, "item")
        self.num_items = num_items
        self.id_dropout = id_dropout
        self.projection_layers = list(projection_layers)
        self.extra_categorical_vocab_sizes = list(extra_categorical_vocab_sizes)
        self.num_numeric_features = num_numeric_features
        self.extra_embeddings = [
            keras.layers.Embedding(size, feature_dim, name=f"extra_categorical_{i}")
            for i, size in enumerate(self.extra_categorical_vocab_sizes)
        ]
        self.category_vocab_sizes = list(category_vocab_sizes)
        self.brand_vocab_size = brand_vocab_size
        self.num_price_buckets = num_price_buckets
        self.feature_dim = feature_dim
        self.text_dropout = text_dropout
        self.category_embeddings = [
            keras.layers.Embedding(size, feature_dim, name=f"category_level_{i}")
            for i, size in enumerate(self.category_vocab_sizes)
        ]
        self.brand_embedding = keras.layers.Embedding(brand_vocab_size, feature_dim, name="brand")
        self.price_embedding = keras.layers.Embedding(num_price_buckets, feature_dim, name="price")
        self.dropout = keras.layers.Dropout(text_dropout)
        self.item_id_embedding = (
            keras.layers.Embedding(
                num_items, feature_dim, embeddings_initializer="zeros", name="item_id"
            )
            if num_items
            else None
        )
        self.hidden = _mlp(self.projection_layers, "item_hidden")
        self.cold_boost = (
            self.add_weight(name="cold_boost", shape=(), initializer="zeros", trainable=False)
            if num_items
            else None
        )

    def call(self, inputs: dict, training: bool = False, boost_cold: bool = True) -> tf.Tensor:
        raw_text = tf.cast(inputs["text_embedding"], tf.float32)
        text = self.dropout(raw_text, training=training)
        category = tf.cast(inputs["category"], tf.int64)
        parts = [text]
        scale = None
        if self.item_id_embedding is not None:
            ids = tf.cast(inputs.get("item_idx", tf.zeros_like(category[..., 0])), tf.int64)
            if boost_cold and not training:
                # catalog items say whether they are new; an item from outside it is
                cold = inputs.get("is_new", tf.cast(ids <= 0, tf.float32))
                scale = 1.0 + self.cold_boost * tf.cast(cold, tf.float32)[..., None]
            ids = _drop_ids(ids, self.id_dropout, training)
            known = tf.cast(ids > 0, tf.float32)[..., None]
            parts.append(self.item_id_embedding(ids) * known)
        parts += [emb(category[..., i]) for i, emb in enumerate(self.category_embeddings)]
        parts.append(self.brand_embedding(tf.cast(inputs["brand"], tf.int64)))
        parts.append(self.price_embedding(tf.cast(inputs["price_bucket"], tf.int64)))
        if self.extra_embeddings:
            extra = tf.cast(inputs["extra_categorical"], tf.int64)
            parts += [emb(extra[..., i]) for i, emb in enumerate(self.extra_embeddings)]
        if self.num_numeric_features:
            parts.append(tf.cast(inputs["extra_numeric"], tf.float32))
        x = tf.concat(parts, axis=-1)
        for layer in self.hidden:
            x = layer(x)
        out = self.output_layer(x)
        if self.text_residual:
            out = self.text_projection(_unit(raw_text)) + out
        out = tf.math.l2_normalize(out, axis=-1)
        return out if scale is None else out * scale

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "embedding_dim": self.embedding_dim,
                "text_residual": self.text_residual,
                "text_dim": self.text_dim,
                "num_items": self.num_items,
                "id_dropout": self.id_dropout,
                "projection_layers": self.projection_layers,
                "category_vocab_sizes": self.category_vocab_sizes,
                "brand_vocab_size": self.brand_vocab_size,
                "num_price_buckets": self.num_price_buckets,
                "feature_dim": self.feature_dim,
                "text_dropout": self.text_dropout,
                "extra_categorical_vocab_sizes": self.extra_categorical_vocab_sizes,
                "num_numeric_features": self.num_numeric_features,
            }
        )
        return config


@keras.utils.register_keras_serializable(package="tfrec")
class QueryTower(_Tower):
    """Maps a search query and/or a user to an L2-normalised embedding in the item space.

    One tower serves search (query text, plus who is searching) and the personalised home feed
    (no query: the user id and the user's recent items). A query-less, history-less, unknown user
    still gets a valid embedding (the learnt "anyone" vector), so nothing downstream needs a
    special case.

    Inputs (a dict): `text_embedding` [B, H] of the query (zeros when there is no query),
    `has_query` [B] float 0/1, `user_idx` [B] int (0 = unknown user), `history` [B, L] item
    embeddings' source: `history_embedding` [B, L, D] (item-tower outputs of the recent items) and
    `history_mask` [B, L] float.

    Args:
        embedding_dim: int. Size of the output embedding (equal to the item tower's).
        projection_layers: list of int. Hidden sizes of the projection MLP.
        user_vocab_size: int. Number of known users + 1 (index 0 = unknown).
        id_embedding_dim: int. Size of the user id embedding. Defaults to 32.
        use_user_id: bool. Whether the user id embedding is an input. Defaults to True.
        use_history: bool. Whether the user's recent items are an input. Defaults to True.
        user_dropout: float. While training, the share of examples whose user id is replaced by
            "unknown", so the tower learns to serve new users. Defaults to 0.1.
        text_residual: bool. The identity-initialised text path beside the learnt part (module
            docstring): the query text, or without a query the mean of the recent items'
            embeddings (as the zero-shot feed); the output is `text_dim` wide and
            `embedding_dim` is not used. Defaults to False.
        text_dim: int. Width H of the text embedding (needed with `text_residual`).

    Example:

    >>> tower = QueryTower(32, [64], user_vocab_size=10, id_embedding_dim=8)
    >>> out = tower({"text_embedding": tf.zeros([2, 384]), "has_query": tf.ones([2]),
    ...              "user_idx": tf.constant([0, 3]), "history_embedding": tf.zeros([2, 4, 32]),
    ...              "history_mask": tf.zeros([2, 4])})
    >>> out.shape
    TensorShape([2, 32])
    """

    def __init__(
        self,
        embedding_dim: int,
        projection_layers: list[int],
        user_vocab_size: int,
        id_embedding_dim: int = 32,
        use_user_id: bool = True,
        use_history: bool = True,
        user_dropout: float = 0.1,
        text_residual: bool = False,
        text_dim: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.projection_layers = list(projection_layers)
        self.user_vocab_size = user_vocab_size
        self.id_embedding_dim = id_embedding_dim
        self.use_user_id = use_user_id
        self.use_history = use_history
        self.user_dropout = user_dropout
        self.user_embedding = keras.layers.Embedding(user_vocab_size, id_embedding_dim, name="user")
        self.hidden = _mlp(self.projection_layers, "query_hidden")
        self._init_output(embedding_dim, text_residual, text_dim, "query")

    def call(self, inputs: dict, training: bool = False) -> tf.Tensor:
        text = tf.cast(inputs["text_embedding"], tf.float32)
        has_query = tf.cast(tf.reshape(inputs["has_query"], [-1, 1]), tf.float32)
        # the constant input carries the learnt "anyone" vector: a query-less, history-less,
        # unknown user still gets a non-degenerate embedding
        parts = [text * has_query, has_query, tf.ones_like(has_query)]
        if self.use_user_id:
            user = tf.cast(inputs["user_idx"], tf.int64)
            user = _drop_ids(user, self.user_dropout, training)
            known = tf.cast(tf.reshape(user > 0, [-1, 1]), tf.float32)
            parts += [self.user_embedding(user) * known, known]
        if self.use_history:
            mask = tf.cast(inputs["history_mask"], tf.float32)
            count = tf.reduce_sum(mask, axis=1, keepdims=True)
            pooled = tf.reduce_sum(
                inputs["history_embedding"] * mask[..., None], axis=1
            ) / tf.maximum(count, 1.0)
            parts += [pooled, tf.cast(count > 0, tf.float32)]
        x = tf.concat(parts, axis=-1)
        for layer in self.hidden:
            x = layer(x)
        out = self.output_layer(x)
        if self.text_residual:
            base = self.text_projection(_unit(text))
            if self.use_history:
                # without a query: the recent items' mean embedding, the zero-shot feed at start
                base = tf.where(has_query > 0, base, pooled)
            out = base + out
        elif self.use_history:
            # a residual towards the user's recent items: the feed starts "near what you liked"
            out = out + pooled
        return tf.math.l2_normalize(out, axis=-1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "embedding_dim": self.embedding_dim,
                "projection_layers": self.projection_layers,
                "user_vocab_size": self.user_vocab_size,
                "id_embedding_dim": self.id_embedding_dim,
                "use_user_id": self.use_user_id,
                "use_history": self.use_history,
                "user_dropout": self.user_dropout,
                "text_residual": self.text_residual,
                "text_dim": self.text_dim,
            }
        )
        return config
