"""The TFRS two-tower retrieval model: queries and users versus items.

`RetrievalModel` is a `tfrs.Model`: `compute_loss(features, training)` embeds the query side
and the positive item and hands both to `tfrs.tasks.Retrieval`, which scores every query against
every item in the batch (in-batch softmax) with:

- `temperature`: divides the logits; small values sharpen the softmax;
- logQ correction (`candidate_sampling_probability`): popular items are in-batch negatives more
  often than rare ones; subtracting log P(item) removes that sampling bias;
- `remove_accidental_hits`: an in-batch "negative" that is the same item as the positive is
  not counted as a negative;
- `num_hard_negatives`: keep only the k highest-scoring negatives per query.

It trains on search examples (query + user -> clicked/added/purchased item) and home-feed
examples (user + history -> next item) in the same batches: the query tower sees `has_query = 0`
for the latter.

The catalog (item text embeddings of the frozen encoder, category, brand and price bucket per
item index) lives in the model as non-trainable tables, so `item_idx` is all a batch carries for
items. With `text.mode` other than frozen, item and query text go through the live BERT encoder.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras as keras

from tfrec.models.towers import ItemTower, QueryTower
from tfrec.text.tokenizer import TOKEN_KEYS


def _tokenize(encoder, texts: list[str], batch_size: int = 4096) -> dict[str, np.ndarray]:
    """Token ids of every text with the encoder's in-graph tokenizer, in batches."""
    strings = np.asarray(texts, dtype=object).astype(str)
    parts = [
        encoder.tokenizer(tf.constant(strings[start : start + batch_size]))
        for start in range(0, len(strings), batch_size)
    ]
    return {key: np.concatenate([p[key].numpy() for p in parts]) for key in TOKEN_KEYS}


class _ItemEmbeddingMemo:
    """The catalog item embeddings of one state of a model's item-side weights, so the stages
    of a run share one pass of the item tower over the catalog (`all_item_embeddings`).

    A plain object, not a `tf.Module` or container: assigned to a Keras model it is neither
    tracked nor wrapped, so it is in no checkpoint, SavedModel or weight list.

    Example:
        >>> memo = _ItemEmbeddingMemo()
        >>> memo.put((1.0,), np.zeros((2, 4)))
        >>> memo.get((1.0,)).shape, memo.get((2.0,))
        ((2, 4), None)
    """

    def __init__(self):
        self._state: tuple | None = None
        self._embeddings: np.ndarray | None = None

    def get(self, state: tuple) -> np.ndarray | None:
        """The embeddings stored for `state` (a weights fingerprint), or None."""
        return self._embeddings if self._state == state else None

    def put(self, state: tuple, embeddings: np.ndarray) -> None:
        """Keep `embeddings` (replacing those of any other state)."""
        self._state, self._embeddings = state, embeddings


class RetrievalModel(tfrs.Model):
    """Two-tower retrieval over a fixed catalog.

    Args:
        query_tower: QueryTower.
        item_tower: ItemTower.
        item_text_table: np.ndarray [N, H]. Frozen-encoder embedding of every item's text (row 0
            is the padding item). Used for history items always and for candidates in frozen mode.
        item_category: np.ndarray [N, 3] int.
        item_brand: np.ndarray [N] int.
        item_price_bucket: np.ndarray [N] int.
        query_text_table: np.ndarray [Q, H]. Frozen-encoder embedding of known queries (row 0 =
            no query). Used when a batch carries `query_idx` and no live encoder is trained.
        temperature: float. Softmax temperature. Defaults to 0.05.
        logq_correction: bool. Correct in-batch sampling bias. Defaults to True.
        remove_accidental_hits: bool. Defaults to True.
        num_hard_negatives: int or None. Defaults to None (all in-batch negatives).
        text_encoder: a `TextEncoder` run on raw strings (query and item text), or None. When
            `train_text` is True it is trained and used for candidates and queries.
        item_texts: list of str [N]. Item text, needed when the live encoder embeds items: it is
            tokenized once into integer tables.
        train_text: bool. Embed text with the live encoder during training. Defaults to False.
        item_text_encoder: a separate `TextEncoder` for items (towers do not share BERT), or
            None to share `text_encoder`.
        item_extra_categorical: np.ndarray [N, C] int or None. Config-declared categorical
            item features.
        item_extra_numeric: np.ndarray [N, M] float or None. Config-declared numeric features.
        item_known: np.ndarray [N] bool or None. Items whose id embedding is used (those with
            training interactions); others take the content path. None: the model has no item
            id embeddings (the item tower's `num_items` is 0).
        item_new: np.ndarray [N] bool or None. With `item_known`: the items the item tower's
            cold boost lifts (no training interactions and not launched before the training
            cutoff); None: every item without an id.
    """

    def __init__(
        self,
        query_tower: QueryTower,
        item_tower: ItemTower,
        item_text_table: np.ndarray,
        item_category: np.ndarray,
        item_brand: np.ndarray,
        item_price_bucket: np.ndarray,
        query_text_table: np.ndarray | None = None,
        temperature: float = 0.05,
        logq_correction: bool = True,
        remove_accidental_hits: bool = True,
        num_hard_negatives: int | None = None,
        text_encoder=None,
        item_texts: list[str] | None = None,
        train_text: bool = False,
        item_text_encoder=None,
        item_extra_categorical: np.ndarray | None = None,
        item_extra_numeric: np.ndarray | None = None,
        item_known: np.ndarray | None = None,
        item_new: np.ndarray | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if temperature <= 0:
            raise ValueError(f"`temperature` must be > 0. Received: temperature={temperature}")
        if train_text and text_encoder is None:
            raise ValueError("`train_text=True` needs a `text_encoder`")
        if train_text and item_texts is None:
            raise ValueError("`train_text=True` needs `item_texts` for the live item encoder")
        self.query_tower = query_tower
        self.item_tower = item_tower
        self.temperature = temperature
        self.logq_correction = logq_correction
        self.remove_accidental_hits = remove_accidental_hits
        self.num_hard_negatives = num_hard_negatives
        self.train_text = train_text
        self.text_encoder = text_encoder
        self.item_text_encoder = item_text_encoder or text_encoder
        self.num_items = int(item_text_table.shape[0])
        self.text_dim = int(item_text_table.shape[1])

        def table(name, value, dtype):
            if np.size(value) == 0:
                # a constant: MultiWorkerMirroredStrategy's broadcast of a zero-size variable's
                # initial value segfaults (TF 2.20; tests/training/test_multi_worker.py)
                return tf.constant(value, dtype=dtype, shape=np.shape(value), name=name)
            return tf.Variable(tf.constant(value, dtype=dtype), trainable=False, name=name)

        self.item_text_table = table("item_text_table", item_text_table, tf.float32)
        self.item_category = table("item_category", item_category, tf.int64)
        self.item_brand = table("item_brand", item_brand, tf.int64)
        self.item_price_bucket = table("item_price_bucket", item_price_bucket, tf.int64)
        n = self.num_items
        if item_extra_categorical is None:
            item_extra_categorical = np.zeros((n, 0), np.int64)
        if item_extra_numeric is None:
            item_extra_numeric = np.zeros((n, 0), np.float32)
        self.item_extra_categorical = table(
            "item_extra_categorical", item_extra_categorical, tf.int64
        )
        self.item_extra_numeric = table("item_extra_numeric", item_extra_numeric, tf.float32)
        # an item's id embedding is looked up under its own row when known, under 0 (none) else;
        # no table without id embeddings (checkpoints of such models hold none)
        self.item_id_rows = (
            table("item_id_rows", np.where(np.asarray(item_known, bool), np.arange(n), 0), tf.int64)
            if item_known is not None
            else None
        )
        if item_known is not None and item_new is None:
            item_new = ~np.asarray(item_known, bool)
        # a constant, in no checkpoint: it follows from the data, like `item_known`'s ids
        self.item_new = (
            tf.constant(np.asarray(item_new, np.float32), name="item_new")
            if item_known is not None
            else None
        )
        if query_text_table is None:
            query_text_table = np.zeros((1, self.text_dim), np.float32)
        self.query_text_table = table("query_text_table", query_text_table, tf.float32)
        # With a trained text encoder, item text enters as token ids tokenized once here: integer
        # tables that gather on any device (TPUs take no strings), fed to BERT per batch.
        self.item_tokens = (
            {
                key: table(f"item_{key}", value, tf.int32)
                for key, value in _tokenize(self.item_text_encoder, item_texts).items()
            }
            if train_text
            else None
        )
        self.task = tfrs.tasks.Retrieval(
            temperature=temperature,
            num_hard_negatives=num_hard_negatives,
            remove_accidental_hits=remove_accidental_hits,
        )
        # `all_item_embeddings` of the current item-side weights (not a Keras-tracked object)
        self._item_embedding_memo = _ItemEmbeddingMemo()
        # `top_k_layers` training: frozen-bottom states of item texts and known queries
        # (`attach_layer_caches`; plain objects, in no checkpoint)
        self.item_layer_cache = self.query_layer_cache = None

    # --- item side --------------------------------------------------------------------------

    def item_features(
        self, item_idx: tf.Tensor, live_text: bool = False, training: bool = False
    ) -> dict:
        item_idx = tf.cast(item_idx, tf.int64)
        if live_text and self.item_layer_cache is not None:
            text = self.item_layer_cache(item_idx, training=training)
        elif live_text:
            tokens = {key: tf.gather(value, item_idx) for key, value in self.item_tokens.items()}
            text = self.item_text_encoder(tokens, training=training)
        else:
            text = tf.gather(self.item_text_table, item_idx)
        features = {
            "text_embedding": text,
            "category": tf.gather(self.item_category, item_idx),
            "brand": tf.gather(self.item_brand, item_idx),
            "price_bucket": tf.gather(self.item_price_bucket, item_idx),
            "extra_categorical": tf.gather(self.item_extra_categorical, item_idx),
            "extra_numeric": tf.gather(self.item_extra_numeric, item_idx),
        }
        if self.item_id_rows is not None:
            features["item_idx"] = tf.gather(self.item_id_rows, item_idx)
            features["is_new"] = tf.gather(self.item_new, item_idx)
        return features

    def item_embeddings(self, item_idx: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Embeddings of catalog items by index."""
        return self.item_tower(
            self.item_features(item_idx, live_text=self.train_text, training=training),
            training=training,
        )

    def _history_item_embeddings(self, history: tf.Tensor, training: bool) -> tuple:
        history = tf.cast(history, tf.int64)
        shape = tf.shape(history)
        flat = tf.reshape(history, [-1])
        # the query side reads items as they are (no cold boost, which is a ranking prior)
        emb = self.item_tower(self.item_features(flat), training=training, boost_cold=False)
        dim = emb.shape[-1]
        emb = tf.reshape(emb, tf.concat([shape, [-1]], axis=0))
        # keep the static embedding size when the batch size is unknown (a data-sharded
        # multi-worker batch), so the query tower's Dense layers can be built
        emb.set_shape(history.shape.concatenate([dim]))
        return emb, tf.cast(history > 0, tf.float32)

    # --- query side -------------------------------------------------------------------------

    def query_embeddings(
        self, features: dict, training: bool = False, text_encoder=None
    ) -> tf.Tensor:
        """Embeddings of the query side.

        Args:
            features: dict with `user_idx` [B], `history` [B, L] and either `query` [B] (raw
                strings, "" for none) or `query_idx` [B] (row of the known-query table).
            training: bool. Defaults to False.
            text_encoder: a `TextEncoder` that embeds the query text instead of the model's
                own `text_encoder` for this call (e.g. a view of it with another tokenizer,
                `TextEncoder.with_tokenizer`); None uses the model's. The model is not changed.

        Returns:
            tf.Tensor [B, D].

        Example:
            >>> model.query_embeddings(
            ...     {"query": tf.constant(["red mug"]), "user_idx": [0], "history": [[0]]},
            ...     text_encoder=model.text_encoder.with_tokenizer("wordpiece"),
            ... )  # doctest: +SKIP
        """
        if text_encoder is None:
            text_encoder = self.text_encoder
        cached = self.query_layer_cache is not None and text_encoder is self.text_encoder
        if cached and "query_idx" in features and "query" not in features:
            # known queries (training batches): the frozen bottom's states were computed once
            query_idx = tf.reshape(features["query_idx"], [-1])
            has_query = tf.cast(query_idx > 0, tf.float32)
            text = self.query_layer_cache(query_idx, training=training)
        elif "query_input_ids" in features:
            # tokenized in the input pipeline (`retrieval_dataset(tokenizer=...)`)
            tokens = {key: features[f"query_{key}"] for key in TOKEN_KEYS}
            has_query = tf.cast(tf.reshape(features["query_idx"], [-1]) > 0, tf.float32)
            text = text_encoder(tokens, training=training)
        elif "query" in features and (self.train_text or "query_idx" not in features):
            if text_encoder is None:
                raise ValueError(
                    "raw query strings need a text encoder: call attach_text_encoder() first"
                )
            query = tf.reshape(tf.convert_to_tensor(features["query"]), [-1])
            has_query = tf.cast(tf.strings.length(tf.strings.strip(query)) > 0, tf.float32)
            text = text_encoder(query, training=training)
        else:
            query_idx = tf.cast(tf.reshape(features["query_idx"], [-1]), tf.int64)
            has_query = tf.cast(query_idx > 0, tf.float32)
            text = tf.gather(self.query_text_table, query_idx)
        history_emb, history_mask = self._history_item_embeddings(features["history"], training)
        inputs = {
            "text_embedding": text,
            "has_query": has_query,
            "user_idx": tf.reshape(features["user_idx"], [-1]),
            "history_embedding": history_emb,
            "history_mask": history_mask,
        }
        return self.query_tower(inputs, training=training)

    def attach_layer_caches(self, item_cache, query_cache) -> None:
        """Use `FrozenLayerCache`s of the catalog texts (rows = item index) and the known
        queries (rows = `query_idx`) for the live encoders in `top_k_layers` mode: the same
        embeddings as the encoders on the texts, with only the trained top layers run."""
        self.item_layer_cache, self.query_layer_cache = item_cache, query_cache

    def attach_text_encoder(self, text_encoder) -> None:
        """Give a frozen-mode model the encoder that turns raw strings into text embeddings
        (the same checkpoint the cached embeddings came from), for serving and export."""
        self.text_encoder = text_encoder
        if self.item_text_encoder is None:
            self.item_text_encoder = text_encoder

    # --- training ---------------------------------------------------------------------------

    def call(self, features: dict, training: bool = False) -> tf.Tensor:
        return self.query_embeddings(features, training=training)

    def compute_loss(self, features: dict, training: bool = False) -> tf.Tensor:
        query = self.query_embeddings(features, training=training)
        item_idx = features["item_idx"]
        items = self.item_embeddings(item_idx, training=training)
        kwargs = {}
        if self.logq_correction:
            kwargs["candidate_sampling_probability"] = features["sampling_probability"]
        if self.remove_accidental_hits:
            kwargs["candidate_ids"] = item_idx
        return self.task(
            query,
            items,
            sample_weight=features.get("weight"),
            compute_metrics=False,
            **kwargs,
        )

    def all_item_embeddings(self, batch_size: int = 1024) -> np.ndarray:
        """Embeddings of every catalog row (row 0 is the padding item). Computed once per state
        of the item side's weights: the stages of a run (evaluation, ranking, shop, index,
        export) share them instead of running the item tower, and BERT in the fine-tuned
        modes, over the catalog again. The returned array is read-only."""
        cached = self._item_embedding_memo.get(self._item_weights_state())
        if cached is not None:
            return cached
        out = []
        for start in range(0, self.num_items, batch_size):
            idx = tf.range(start, min(start + batch_size, self.num_items), dtype=tf.int64)
            out.append(self.item_embeddings(idx).numpy())
        embeddings = np.concatenate(out, axis=0)
        embeddings.setflags(write=False)
        # keyed by the state after the run: a first call also builds the item tower's weights
        self._item_embedding_memo.put(self._item_weights_state(), embeddings)
        return embeddings

    def _item_weights_state(self) -> tuple:
        """A fingerprint of every weight the item embeddings depend on (changes when training
        or loading changes any of them)."""
        weights = list(self.item_tower.weights)
        if self.train_text:
            weights += list(self.item_text_encoder.weights)
        return tuple(float(tf.reduce_sum(tf.cast(w, tf.float64))) for w in weights)


def build_retrieval_model(
    cfg,
    data,
    item_text_table: np.ndarray,
    query_text_table: np.ndarray,
    text_encoder=None,
    item_text_encoder=None,
) -> RetrievalModel:
    """A `RetrievalModel` for a config and prepared data (call under the strategy scope)."""
    r = cfg.retrieval
    catalog = data.catalog
    item_tower = ItemTower(
        embedding_dim=r.embedding_dim,
        projection_layers=r.projection_layers,
        category_vocab_sizes=[len(v) for v in catalog.category_vocabs],
        brand_vocab_size=len(catalog.brand_vocab),
        num_price_buckets=len(catalog.price_boundaries) + 2,
        feature_dim=r.id_embedding_dim,
        extra_categorical_vocab_sizes=[len(v) for v in catalog.extra_categorical_vocabs],
        num_numeric_features=catalog.extra_numeric.shape[1]
        if catalog.extra_numeric is not None
        else 0,
        text_residual=r.text_residual,
        text_dim=int(item_text_table.shape[1]),
        num_items=len(catalog) if r.item_id_embedding else 0,
        id_dropout=r.id_dropout,
        name="item_tower",
    )
    query_tower = QueryTower(
        embedding_dim=r.embedding_dim,
        projection_layers=r.projection_layers,
        user_vocab_size=len(data.user_vocab),
        id_embedding_dim=r.id_embedding_dim,
        use_user_id=r.use_user_id,
        use_history=r.use_history,
        user_dropout=r.id_dropout,
        text_residual=r.text_residual,
        text_dim=int(item_text_table.shape[1]),
        name="query_tower",
    )
    model = RetrievalModel(
        query_tower,
        item_tower,
        item_text_table=item_text_table,
        item_category=catalog.category_idx,
        item_brand=catalog.brand_idx,
        item_price_bucket=catalog.price_bucket,
        query_text_table=query_text_table,
        temperature=r.temperature,
        logq_correction=r.logq_correction,
        remove_accidental_hits=r.remove_accidental_hits,
        num_hard_negatives=r.num_hard_negatives,
        text_encoder=text_encoder,
        item_texts=catalog.texts,
        train_text=cfg.text.mode != "frozen",
        item_text_encoder=item_text_encoder,
        item_extra_categorical=catalog.extra_categorical,
        item_extra_numeric=catalog.extra_numeric,
        item_known=data.item_train_counts > 0 if r.item_id_embedding else None,
        item_new=data.new_items if r.item_id_embedding else None,
    )
    optimizers = {
        "adam": keras.optimizers.Adam,
        "adagrad": keras.optimizers.Adagrad,
        "sgd": keras.optimizers.SGD,
    }
    model.compile(
        optimizer=optimizers[r.optimizer](learning_rate=r.learning_rate),
        steps_per_execution=cfg.training.steps_per_execution,
        jit_compile=cfg.training.jit_compile or None,
    )
    return model
