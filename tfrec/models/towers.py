"""The two towers of the retrieval model: QueryTower (queries and users) and ItemTower (items).

Text enters either as raw strings, run through a `TextEncoder` (BERT, tokenizer in the graph),
or as a precomputed text embedding of the same encoder (frozen mode, where embeddings are
computed once and cached). Both paths share every weight after the text encoder, so a tower
trained on cached embeddings serves raw strings with the same outputs.
"""

from __future__ import annotations

import tensorflow as tf
import tf_keras as keras


def _mlp(layers: list[int], name: str) -> list[keras.layers.Layer]:
    return [
        keras.layers.Dense(units, activation="gelu", name=f"{name}_{i}")
        for i, units in enumerate(layers)
    ]


@keras.utils.register_keras_serializable(package="tfrec")
class ItemTower(keras.layers.Layer):
    """Maps item features to an L2-normalised embedding.

    Inputs (a dict): `text_embedding` [B, H] (the text encoder's pooled title+description),
    `category` [B, 3] int (one index per taxonomy level, 0 = unknown), `brand` [B] int,
    `price_bucket` [B] int.

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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
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
        self.hidden = _mlp(self.projection_layers, "item_hidden")
        self.output_layer = keras.layers.Dense(embedding_dim, name="item_output")

    def call(self, inputs: dict, training: bool = False) -> tf.Tensor:
        text = self.dropout(tf.cast(inputs["text_embedding"], tf.float32), training=training)
        category = tf.cast(inputs["category"], tf.int64)
        parts = [text]
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
        return tf.math.l2_normalize(self.output_layer(x), axis=-1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "embedding_dim": self.embedding_dim,
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
class QueryTower(keras.layers.Layer):
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.projection_layers = list(projection_layers)
        self.user_vocab_size = user_vocab_size
        self.id_embedding_dim = id_embedding_dim
        self.use_user_id = use_user_id
        self.use_history = use_history
        self.user_dropout = user_dropout
        self.user_embedding = keras.layers.Embedding(user_vocab_size, id_embedding_dim, name="user")
        self.hidden = _mlp(self.projection_layers, "query_hidden")
        self.output_layer = keras.layers.Dense(embedding_dim, name="query_output")

    def call(self, inputs: dict, training: bool = False) -> tf.Tensor:
        text = tf.cast(inputs["text_embedding"], tf.float32)
        has_query = tf.cast(tf.reshape(inputs["has_query"], [-1, 1]), tf.float32)
        # the constant input carries the learnt "anyone" vector: a query-less, history-less,
        # unknown user still gets a non-degenerate embedding
        parts = [text * has_query, has_query, tf.ones_like(has_query)]
        if self.use_user_id:
            user = tf.cast(inputs["user_idx"], tf.int64)
            if training and self.user_dropout > 0:
                keep = tf.random.uniform(tf.shape(user)) >= self.user_dropout
                user = tf.where(keep, user, tf.zeros_like(user))
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
        if self.use_history:
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
            }
        )
        return config
