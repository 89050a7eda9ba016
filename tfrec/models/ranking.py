"""The CTR ranking model: DCN-v2 over tower embeddings, item and context features.

`RankingModel` is a `tfrs.Model`. For every (request, candidate) pair it reads:

- `query_embedding` [B, D] and `item_embedding` [B, D]: the outputs of the trained retrieval
  model's query/user tower and item tower (frozen; embeddings enter as features), and their dot
  product, computed inside the model;
- item features: `category` [B, 3] (one index per taxonomy level), `brand` [B], `price_bucket` [B]
  and, when `item_id_dim` > 0, `item_idx` [B] (the catalog row): a learnt per-item embedding
  that carries what the text towers cannot see, such as how attractive an item's picture and
  offer are (rows of items the ranker never saw, and ids past the table, stay at zero: neutral);
- context features: `hour` [B] (0-23) and `position` [B] (1-based rank the item was shown at);
- config-declared extras: numeric ones (standardised with training mean and std) and
  categorical ones (indices of a training vocabulary, 0 = unknown).

Embedded categorical features, the embeddings, the dot product and the numeric extras are
concatenated into x0, which feeds DCN-v2 cross layers (`tfrs.layers.dcn.Cross`, low-rank when
`projection_dim` is set) and a deep MLP, stacked (cross then deep) or in parallel (both on x0,
outputs concatenated). With no cross layers and no deep layers the model is a logistic
regression over the same features (an embedding followed by a linear layer is linear in the
one-hot encoding), which is how the baseline is built.

Two heads, each a `tfrs.tasks.Ranking` with binary cross-entropy:

- `click`: P(click | impression);
- `purchase_given_click`: P(purchase | click, impression), trained on clicked impressions only
  (their loss weight is the click label), so P(purchase | impression) = p_click * p_pgc.

The ordering score is `p_click * (1 + purchase_score_weight * p_pgc)`: the click probability,
boosted by the chance that a click turns into a purchase. With the purchase head disabled (no
purchases in the training data) the score is p_click.

The serving score, what candidates are ordered by after retrieval, is
`log(score) + retrieval_weight * retrieval_logit`, where `retrieval_logit` is the candidate's
retrieval logit (tower dot product / temperature) and `retrieval_weight` is chosen by the
training stage on the validation searches and saved with the model. The ranker learns
attractiveness from the impressions the old engine showed; the retrieval logit carries what the
retrieval model learnt over the whole catalog, including which candidates a search leads to at
all. Neither alone orders the retrieved candidates best (the evaluation prints all three).
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf
import tensorflow_recommenders as tfrs
import tf_keras as keras

BASE_FEATURES = ("query_embedding", "item_embedding", "category", "brand", "price_bucket", "hour")
LABELS = ("click", "purchase")


class RankingModel(tfrs.Model):
    """DCN-v2 click and purchase ranker over frozen tower embeddings and item/context features.

    Position bias: the synthetic shop (and real logs) click by examination times attractiveness,
    and examination falls with the rank an item was shown at. `position` is a training feature
    that enters only through a separate additive logit of the click head (a "shallow tower", as
    in PAL and YouTube's 2019 ranker), so the cross/deep part learns attractiveness without
    being credited for the slot. Position 0 is its own bucket, "retrieved but not shown", for
    the unshown retrieval candidates that training can add as negatives (`unshown_negatives`,
    off by default): they must not drag down the position-1 logit, and as an unshown item was
    never examined, that bucket's logit learns "never clicked" and leaves the network little
    to learn from them; the order among candidates that retrieval brings but the logs never
    showed comes instead from the retrieval logit in the serving score. At serving time
    position is fixed to `serving_position` (1)
    for every candidate: the position logit is then the same constant for all candidates, the
    order comes from attractiveness alone, and the probabilities read as "if shown on top".
    This was chosen over inverse propensity weighting because IPW needs propensities estimated
    from randomised or intervention data, which the logs do not have, and its weights (up to
    1 / P(examined at rank 10)) inflate the variance of the loss; the position feature learns the
    bias from the logs themselves and costs nothing at serving. `evaluate_ranking` shows the
    effect: NDCG of the shown items scored at the fixed position versus at their logged position.

    Args:
        category_vocab_sizes: list of int. Vocabulary size per category level.
        brand_vocab_size: int. Brand vocabulary size (index 0 = unknown).
        num_price_buckets: int. Price buckets including bucket 0 (unknown).
        feature_dim: int. Size of the categorical feature embeddings. Defaults to 16.
        cross_layers: int. Number of DCN-v2 cross layers (0 = none). Defaults to 2.
        projection_dim: int or None. Low-rank projection of the cross layers' weight matrices
            (None = full rank). Defaults to None.
        deep_layers: list of int. Hidden sizes of the deep MLP. Defaults to [128, 64].
        structure: str. `stacked` (cross layers, then the MLP) or `parallel` (both on x0,
            concatenated). Defaults to `parallel`.
        max_position: int. Positions above this share one bucket. Defaults to 20.
        serving_position: int. The position every candidate is scored at when serving.
            Defaults to 1.
        purchase_head: bool. Train and serve the purchase-given-click head. Defaults to True.
        click_loss_weight: float. Weight of the click loss. Defaults to 1.0.
        purchase_loss_weight: float. Weight of the purchase-given-click loss. Defaults to 1.0.
        purchase_score_weight: float. `w` in the ordering score p_click * (1 + w * p_pgc).
            Defaults to 1.0.
        dot_scale: float. The tower dot product is multiplied by this before it enters the
            network (the retrieval model's 1 / temperature puts it on its logit scale, where
            candidates differ by units rather than hundredths). Defaults to 20.0.
        dropout: float. Dropout on the interaction output (cross and deep) while training.
            Defaults to 0.0.
        numeric_features: list of str. Config-declared numeric extras. Defaults to [].
        numeric_means: list of float. Training mean per numeric extra. Defaults to zeros.
        numeric_stds: list of float. Training standard deviation per numeric extra. Defaults to ones.
        categorical_features: dict of str to int. Config-declared categorical extras and their
            vocabulary sizes (index 0 = unknown). Defaults to {}.
        learning_rate: float. Adam learning rate (used by `compile_default`). Defaults to 1e-3.
        retrieval_weight: float. `beta` in the serving score log(score) + beta * retrieval_logit
            (0 = the ranker's score alone; then `retrieval_logit` is not needed). Defaults to 0.0.
        num_items: int. Catalog rows (row 0 = padding) of the `item_idx` feature. Defaults to 0.
        item_id_dim: int. Size of the per-item embedding (0 = no `item_idx` feature). Needs
            `num_items` > 0. Defaults to 0.

    Example:

    >>> model = RankingModel([4, 6, 8], 5, 11, cross_layers=1, deep_layers=[16],
    ...                      retrieval_weight=0.5)
    >>> features = {"query_embedding": tf.zeros([2, 8]), "item_embedding": tf.zeros([2, 8]),
    ...             "category": tf.ones([2, 3], tf.int64), "brand": tf.ones([2], tf.int64),
    ...             "price_bucket": tf.ones([2], tf.int64), "hour": tf.ones([2], tf.int64),
    ...             "position": tf.ones([2], tf.int64)}
    >>> sorted(model(features))
    ['click', 'purchase', 'purchase_given_click', 'score']
    >>> out = model.serving_scores({**features, "retrieval_logit": tf.constant([1.0, 3.0])})
    >>> sorted(out)
    ['click', 'purchase', 'purchase_given_click', 'score', 'serving_score']

    References:
        Wang et al., DCN V2: Improved Deep & Cross Network (2021).
        Guo et al., PAL: a position-bias aware learning framework for CTR prediction (2019).
        Ma et al., Entire Space Multi-Task Model (ESMM) for post-click conversion (2018).
    """

    def __init__(
        self,
        category_vocab_sizes: list[int],
        brand_vocab_size: int,
        num_price_buckets: int,
        feature_dim: int = 16,
        cross_layers: int = 2,
        projection_dim: int | None = None,
        deep_layers: list[int] | None = None,
        structure: str = "parallel",
        max_position: int = 20,
        serving_position: int = 1,
        purchase_head: bool = True,
        click_loss_weight: float = 1.0,
        purchase_loss_weight: float = 1.0,
        purchase_score_weight: float = 1.0,
        dot_scale: float = 20.0,
        dropout: float = 0.0,
        numeric_features: list[str] | None = None,
        numeric_means: list[float] | None = None,
        numeric_stds: list[float] | None = None,
        categorical_features: dict[str, int] | None = None,
        learning_rate: float = 1e-3,
        retrieval_weight: float = 0.0,
        num_items: int = 0,
        item_id_dim: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if structure not in ("stacked", "parallel"):
            raise ValueError(
                f"`structure` must be 'stacked' or 'parallel'. Received: structure={structure!r}"
            )
        if cross_layers < 0:
            raise ValueError(f"`cross_layers` must be >= 0. Received: cross_layers={cross_layers}")
        if max_position < 1 or not 1 <= serving_position <= max_position:
            raise ValueError(
                "`serving_position` must be in [1, max_position]. Received: "
                f"serving_position={serving_position}, max_position={max_position}"
            )
        self.category_vocab_sizes = list(category_vocab_sizes)
        self.brand_vocab_size = int(brand_vocab_size)
        self.num_price_buckets = int(num_price_buckets)
        self.feature_dim = feature_dim
        self.cross_layers = cross_layers
        self.projection_dim = projection_dim
        self.deep_layers = list(deep_layers if deep_layers is not None else [128, 64])
        self.structure = structure
        self.max_position = max_position
        self.serving_position = serving_position
        self.purchase_head = purchase_head
        self.click_loss_weight = click_loss_weight
        self.purchase_loss_weight = purchase_loss_weight
        self.purchase_score_weight = purchase_score_weight
        self.dot_scale = dot_scale
        self.dropout = dropout
        self.numeric_features = list(numeric_features or [])
        n = len(self.numeric_features)
        self.numeric_means = [float(x) for x in (numeric_means or [0.0] * n)]
        self.numeric_stds = [float(x) for x in (numeric_stds or [1.0] * n)]
        if len(self.numeric_means) != n or len(self.numeric_stds) != n:
            raise ValueError(
                f"`numeric_means` and `numeric_stds` need one value per numeric feature ({n})"
            )
        self.categorical_features = dict(categorical_features or {})
        if item_id_dim < 0 or (item_id_dim and num_items < 1):
            raise ValueError(
                "`item_id_dim` > 0 needs `num_items` >= 1. Received: "
                f"item_id_dim={item_id_dim}, num_items={num_items}"
            )
        self.num_items = int(num_items)
        self.item_id_dim = int(item_id_dim)
        self.learning_rate = learning_rate
        self.retrieval_weight = float(retrieval_weight)

        emb = keras.layers.Embedding
        self.category_embeddings = [
            emb(size, feature_dim, name=f"category_level_{i}")
            for i, size in enumerate(self.category_vocab_sizes)
        ]
        self.brand_embedding = emb(self.brand_vocab_size, feature_dim, name="brand")
        self.price_embedding = emb(self.num_price_buckets, feature_dim, name="price_bucket")
        self.hour_embedding = emb(24, feature_dim, name="hour")
        # zeros: items without training impressions keep a neutral (all-zero) row
        self.item_id_embedding = (
            emb(self.num_items, self.item_id_dim, embeddings_initializer="zeros", name="item_id")
            if self.item_id_dim
            else None
        )
        self.extra_embeddings = {
            name: emb(size, feature_dim, name=f"extra_{name}")
            for name, size in self.categorical_features.items()
        }
        self.cross = [
            tfrs.layers.dcn.Cross(projection_dim=projection_dim, name=f"cross_{i}")
            for i in range(cross_layers)
        ]
        self.deep = [
            keras.layers.Dense(units, activation="relu", name=f"deep_{i}")
            for i, units in enumerate(self.deep_layers)
        ]
        self.interaction_dropout = keras.layers.Dropout(dropout, name="interaction_dropout")
        self.click_logit = keras.layers.Dense(1, name="click_logit")
        # the shallow position tower: one additive click logit per position bucket
        self.position_logit = emb(
            max_position + 1, 1, embeddings_initializer="zeros", name="position_logit"
        )
        self.pgc_logit = (
            keras.layers.Dense(1, name="purchase_given_click_logit") if purchase_head else None
        )
        # summed here and averaged in `compute_loss`: under a tf.distribute strategy Keras takes
        # no loss it would average itself outside `compile` (SUM_OVER_BATCH_SIZE)
        bce = keras.losses.BinaryCrossentropy
        self.click_task = tfrs.tasks.Ranking(
            loss=bce(reduction=keras.losses.Reduction.SUM),
            metrics=[keras.metrics.AUC(name="click_auc")],
            name="click_task",
        )
        self.purchase_task = (
            tfrs.tasks.Ranking(
                loss=bce(reduction=keras.losses.Reduction.SUM),
                metrics=[keras.metrics.AUC(name="purchase_given_click_auc")],
                name="purchase_task",
            )
            if purchase_head
            else None
        )

    # --- features ----------------------------------------------------------------------------

    @property
    def required_features(self) -> list[str]:
        """Every feature `call` needs (besides `position`, which defaults at serving)."""
        item = ["item_idx"] if self.item_id_embedding is not None else []
        return [*BASE_FEATURES, *item, *self.numeric_features, *self.categorical_features]

    def check_features(self, features: dict) -> None:
        """Raise a ValueError naming every feature the model was trained with that is missing."""
        missing = [f for f in self.required_features if f not in features]
        if missing:
            raise ValueError(
                f"ranking features missing: {', '.join(missing)}; the model was trained with "
                f"{', '.join(self.required_features)} (and position, which defaults to "
                f"{self.serving_position} at serving)"
            )

    def _x0(self, features: dict) -> tf.Tensor:
        q = tf.cast(features["query_embedding"], tf.float32)
        i = tf.cast(features["item_embedding"], tf.float32)
        self.embedding_dim = int(q.shape[-1])  # known once called; for `ranking_throughput`
        dot = tf.reduce_sum(q * i, axis=-1, keepdims=True) * self.dot_scale
        category = tf.cast(features["category"], tf.int64)
        parts = [q, i, dot]
        parts += [e(category[..., lvl]) for lvl, e in enumerate(self.category_embeddings)]
        parts.append(self.brand_embedding(tf.cast(tf.reshape(features["brand"], [-1]), tf.int64)))
        parts.append(
            self.price_embedding(tf.cast(tf.reshape(features["price_bucket"], [-1]), tf.int64))
        )
        hour = tf.clip_by_value(tf.cast(tf.reshape(features["hour"], [-1]), tf.int64), 0, 23)
        parts.append(self.hour_embedding(hour))
        if self.item_id_embedding is not None:
            idx = tf.cast(tf.reshape(features["item_idx"], [-1]), tf.int64)
            idx = tf.where((idx < 0) | (idx >= self.num_items), tf.zeros_like(idx), idx)
            parts.append(self.item_id_embedding(idx))
        for name, layer in self.extra_embeddings.items():
            idx = tf.cast(tf.reshape(features[name], [-1]), tf.int64)
            size = self.categorical_features[name]
            idx = tf.where((idx < 0) | (idx >= size), tf.zeros_like(idx), idx)
            parts.append(layer(idx))
        for name, mean, std in zip(self.numeric_features, self.numeric_means, self.numeric_stds):
            x = tf.cast(tf.reshape(features[name], [-1, 1]), tf.float32)
            parts.append((x - mean) / max(std, 1e-6))
        return tf.concat(parts, axis=-1)

    def _interactions(self, x0: tf.Tensor) -> tf.Tensor:
        if self.structure == "stacked":
            x = x0
            for layer in self.cross:
                x = layer(x0, x)
            for layer in self.deep:
                x = layer(x)
            return x
        cross = x0
        for layer in self.cross:
            cross = layer(x0, cross)
        deep = x0
        for layer in self.deep:
            deep = layer(deep)
        if not self.cross:
            return deep
        if not self.deep:
            return cross
        return tf.concat([cross, deep], axis=-1)

    # --- outputs -----------------------------------------------------------------------------

    def call(self, features: dict, training: bool = False) -> dict:
        """Probabilities `click`, `purchase_given_click`, `purchase` and the ordering `score`.

        Features as listed in the class docstring; a missing `position` defaults to
        `serving_position`, any other missing feature raises a ValueError naming it."""
        self.check_features(features)
        x = self._interactions(self._x0(features))
        x = self.interaction_dropout(x, training=training)
        if "position" in features:
            position = tf.cast(tf.reshape(features["position"], [-1]), tf.int64)
        else:
            position = tf.fill(tf.shape(x)[:1], tf.constant(self.serving_position, tf.int64))
        # bucket 0: retrieved for the search but not shown (training negatives only)
        position = tf.clip_by_value(position, 0, self.max_position)
        click_logit = self.click_logit(x) + self.position_logit(position)
        p_click = tf.sigmoid(tf.reshape(click_logit, [-1]))
        if self.pgc_logit is not None:
            p_pgc = tf.sigmoid(tf.reshape(self.pgc_logit(x), [-1]))
        else:
            p_pgc = tf.zeros_like(p_click)
        return {
            "click": p_click,
            "purchase_given_click": p_pgc,
            "purchase": p_click * p_pgc,
            "score": p_click * (1.0 + self.purchase_score_weight * p_pgc),
        }

    def serving_scores(self, features: dict) -> dict:
        """The outputs with `position` fixed to `serving_position` for every candidate (any
        logged position in `features` is ignored), plus `serving_score` = log(score) +
        retrieval_weight * retrieval_logit: what ranking at serving time orders by.

        `retrieval_logit` [B] (the candidate's retrieval dot product / temperature) is required
        when `retrieval_weight` is not 0; a ValueError names it when it is missing."""
        logit = features.get("retrieval_logit")
        if logit is None and self.retrieval_weight != 0.0:
            raise ValueError(
                "ranking features missing: retrieval_logit (each candidate's retrieval logit, "
                f"dot / temperature); the serving score is log(score) + {self.retrieval_weight:g}"
                " * retrieval_logit"
            )
        features = {k: v for k, v in features.items() if k not in ("position", "retrieval_logit")}
        out = self(features, training=False)
        serving = tf.math.log(tf.maximum(out["score"], 1e-12))
        if logit is not None and self.retrieval_weight != 0.0:
            serving += self.retrieval_weight * tf.reshape(tf.cast(logit, tf.float32), [-1])
        return {**out, "serving_score": serving}

    def compute_loss(self, inputs, training: bool = False) -> tf.Tensor:
        features, labels = inputs if isinstance(inputs, tuple) else (inputs, inputs)
        if "position" not in features:
            raise ValueError("ranking training examples need `position` (the rank shown at)")
        out = self(features, training=training)
        click = tf.cast(tf.reshape(labels["click"], [-1, 1]), tf.float32)
        batch = tf.cast(tf.shape(click)[0], tf.float32)
        loss = (
            self.click_loss_weight
            * self.click_task(
                labels=click, predictions=tf.reshape(out["click"], [-1, 1]), training=training
            )
            / batch
        )
        if self.purchase_task is not None:
            purchase = tf.cast(tf.reshape(labels["purchase"], [-1, 1]), tf.float32)
            # purchase given click: only clicked impressions carry this loss, averaged over them
            pgc_loss = self.purchase_task(
                labels=purchase,
                predictions=tf.reshape(out["purchase_given_click"], [-1, 1]),
                sample_weight=tf.reshape(click, [-1]),
                training=training,
            )
            loss += self.purchase_loss_weight * pgc_loss / tf.maximum(tf.reduce_sum(click), 1.0)
        # the replicas' gradients are summed: each contributes its share of the mean
        return loss / tf.distribute.get_strategy().num_replicas_in_sync

    def compile_default(self, steps_per_execution: int = 1, jit_compile: bool = False) -> None:
        """Compile with Adam at the model's learning rate; `jit_compile` compiles each train
        step with XLA (`training.jit_compile`)."""
        self.compile(
            optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate),
            steps_per_execution=steps_per_execution,
            jit_compile=jit_compile or None,
        )

    def get_config(self) -> dict:
        return {
            "category_vocab_sizes": self.category_vocab_sizes,
            "brand_vocab_size": self.brand_vocab_size,
            "num_price_buckets": self.num_price_buckets,
            "feature_dim": self.feature_dim,
            "cross_layers": self.cross_layers,
            "projection_dim": self.projection_dim,
            "deep_layers": self.deep_layers,
            "structure": self.structure,
            "max_position": self.max_position,
            "serving_position": self.serving_position,
            "purchase_head": self.purchase_head,
            "click_loss_weight": self.click_loss_weight,
            "purchase_loss_weight": self.purchase_loss_weight,
            "purchase_score_weight": self.purchase_score_weight,
            "dot_scale": self.dot_scale,
            "dropout": self.dropout,
            "numeric_features": self.numeric_features,
            "numeric_means": self.numeric_means,
            "numeric_stds": self.numeric_stds,
            "categorical_features": self.categorical_features,
            "learning_rate": self.learning_rate,
            "retrieval_weight": self.retrieval_weight,
            "num_items": self.num_items,
            "item_id_dim": self.item_id_dim,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> RankingModel:
        return cls(**config)


def logistic_regression_config(config: dict) -> dict:
    """The config of the logistic-regression baseline on the same features and heads: no cross
    layers and no deep layers, so each head is linear in the one-hot and dense features."""
    return {**config, "cross_layers": 0, "deep_layers": [], "name": "logistic_regression"}


# ------------------------------------------------------------------------------------------------
# Throughput
# ------------------------------------------------------------------------------------------------


def random_candidates(model: RankingModel, n: int, dim: int, seed: int = 0) -> dict:
    """One request's candidate features (one query, `n` items) with random values in range."""
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(1, dim)).astype(np.float32)
    feats = {
        "query_embedding": np.repeat(query, n, axis=0),
        "item_embedding": rng.normal(size=(n, dim)).astype(np.float32),
        "category": np.stack(
            [rng.integers(0, s, n) for s in model.category_vocab_sizes], axis=1
        ).astype(np.int64),
        "brand": rng.integers(0, model.brand_vocab_size, n).astype(np.int64),
        "price_bucket": rng.integers(0, model.num_price_buckets, n).astype(np.int64),
        "hour": np.full(n, 12, np.int64),
        "retrieval_logit": rng.normal(size=n).astype(np.float32),
    }
    if model.item_id_dim:
        feats["item_idx"] = rng.integers(0, model.num_items, n).astype(np.int64)
    for name in model.numeric_features:
        feats[name] = rng.normal(size=n).astype(np.float32)
    for name, size in model.categorical_features.items():
        feats[name] = rng.integers(0, size, n).astype(np.int64)
    return {k: tf.constant(v) for k, v in feats.items()}


def ranking_throughput(
    model: RankingModel, n_candidates: int, dim: int | None = None, min_seconds: float = 1.0
) -> float:
    """Candidates scored per second when one request carries `n_candidates` candidates
    (serving path: position fixed, compiled `tf.function`, after a warm-up call)."""
    if dim is None:
        dim = _embedding_dim(model)
    feats = random_candidates(model, n_candidates, dim)
    fn = tf.function(lambda f: model.serving_scores(f)["serving_score"])
    fn(feats).numpy()  # trace and warm up
    calls, start = 0, time.perf_counter()
    while True:
        fn(feats).numpy()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds and calls >= 3:
            return calls * n_candidates / elapsed


def _embedding_dim(model: RankingModel) -> int:
    dim = getattr(model, "embedding_dim", None)
    if dim is None:
        raise ValueError("the ranking model is not built: call it on a batch first or pass `dim`")
    return dim
