"""The export of a run's trained ranker: `export/tfrec_ranker/<version>/` (stock TF ops with
the WordPiece tokenizer; only when the run has a trained ranker, see `export_ranker`).

Signature `ranker(query, user_id [B] string, recent_item_ids [B, L] string, item_id [B] string,
position [B] int64, hour [B] int64) -> p_click, p_purchase, score, serving_score,
retrieval_logit [B] float32, in_catalog [B] bool`: one row per (request, candidate); see
`RankerServingModule`. Signature `ranker_embedded(query_embedding [B, D] float32,
recent_item_ids, item_id, position, hour)`: the same scores from the query embeddings the
retrieval export's `query_encoder` gives for the rows' (query, user_id, recent_item_ids), so a
server that already ran it skips BERT; valid only with a retrieval export of the same
`query_fingerprint` (`tfrec.json`).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.data.ranking_examples import HISTORY_FEATURES, ranking_queries
from tfrec.export.serving_module import (
    OPTIONAL_INPUTS,
    STOCK_TOKENIZER,
    RetrievalServingModule,
    run_numeric_stats,
)
from tfrec.export.versions import (
    as_tensor_value,
    custom_op_types,
    prune_versions,
    query_fingerprint,
    save_version,
)
from tfrec.index.scann_index import ItemIndex
from tfrec.models.ranking_features import RankingFeatureBuilder
from tfrec.training.ranking_io import load_ranking_model

RANKER_INPUTS = ("query", "user_id", "recent_item_ids", "item_id", "position", "hour")


RANKER_OUTPUTS = (
    "p_click",
    "p_purchase",
    "score",
    "serving_score",
    "retrieval_logit",
    "in_catalog",
)


class RankerServingModule(tf.Module):
    """The serving graph of the trained ranker: raw candidate features -> scores.

    One row per (request, candidate): `query`, `user_id`, `recent_item_ids` [B, L] (the
    request, repeated per candidate; "" pads) and the candidate `item_id`, its `position`
    (1-based; send the ranker's `serving_position` to score "as if shown on top", which is
    what `RankingModel.serving_scores` does) and the request's `hour` (0-23). The graph embeds
    each distinct request once with the retrieval model's query tower (BERT in the graph),
    looks up the candidate's item embedding and catalog features, computes the user-history
    features and the retrieval logit (query . item / temperature), and runs the ranker.
    Candidates not in the catalog get the padding row (`in_catalog` false).

    Args:
        retrieval: RetrievalServingModule. Its query side and id tables are reused.
        ranker: the trained `RankingModel`.
        item_embeddings: np.ndarray [N, D]. The retrieval model's catalog item embeddings
            (`all_item_embeddings()`, row 0 = padding).
        item_features: dict of str to np.ndarray [N, ...]. Per-catalog-row ranker features
            (category, brand, price_bucket and item-level extras).
        catalog_features: dict with `category` [N, 3], `brand` [N], `price_bucket` [N]: the
            catalog arrays the history features compare against.
        temperature: float. The retrieval model's softmax temperature.

    Example:
        >>> module = RankerServingModule(
        ...     retrieval, ranker, item_embeddings, item_features, catalog_features, 0.05
        ... )  # doctest: +SKIP
        >>> module.signatures()["ranker"](**request)["serving_score"]  # doctest: +SKIP
    """

    def __init__(
        self,
        retrieval: RetrievalServingModule,
        ranker,
        item_embeddings: np.ndarray,
        item_features: dict,
        catalog_features: dict,
        temperature: float,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.retrieval = retrieval
        self.ranker = ranker
        self.ranker_variables = list(ranker.variables)
        self.temperature = float(temperature)
        self.use_scann = False
        self.item_embeddings = tf.Variable(
            np.asarray(item_embeddings, np.float32), trainable=False, name="item_embeddings"
        )
        self.item_feature_names = sorted(item_features)
        self.item_feature_values = [
            tf.Variable(np.asarray(item_features[n]), trainable=False, name=f"item_{n}")
            for n in self.item_feature_names
        ]
        self.hist_category = tf.constant(np.asarray(catalog_features["category"], np.int64))
        self.hist_brand = tf.constant(np.asarray(catalog_features["brand"], np.int64))
        self.hist_price = tf.constant(np.asarray(catalog_features["price_bucket"], np.int64))

    def _history_features(self, hist, item):
        """`tfrec.data.ranking_examples.history_features` in the graph."""
        mask = hist > 0
        denom = tf.maximum(tf.reduce_sum(tf.cast(mask, tf.float32), 1), 1.0)

        def share(hv, iv):
            same = tf.equal(hv, iv[:, None]) & mask & (iv[:, None] > 0)
            return tf.reduce_sum(tf.cast(same, tf.float32), 1) / denom

        prices = tf.gather(self.hist_price, hist)
        priced = mask & (prices > 0)
        total = tf.reduce_sum(tf.cast(prices * tf.cast(priced, tf.int64), tf.float64), 1)
        mean_price = total / tf.maximum(tf.reduce_sum(tf.cast(priced, tf.float64), 1), 1.0)
        item_price = tf.gather(self.hist_price, item)
        gap = tf.where(
            tf.reduce_any(priced, 1) & (item_price > 0),
            tf.cast(item_price, tf.float64) - mean_price,
            tf.zeros_like(mean_price),
        )
        cat_h, cat_i = tf.gather(self.hist_category, hist), tf.gather(self.hist_category, item)
        return {
            "history_length": tf.reduce_sum(tf.cast(mask, tf.float32), 1),
            "history_price_gap": tf.cast(gap, tf.float32),
            "history_brand_share": share(
                tf.gather(self.hist_brand, hist), tf.gather(self.hist_brand, item)
            ),
            "history_leaf_share": share(cat_h[..., 2], cat_i[:, 2]),
            "history_mid_share": share(cat_h[..., 1], cat_i[:, 1]),
        }

    def ranker_scores(self, query, user_id, recent_item_ids, item_id, position, hour):
        r = self.retrieval
        # each distinct request (query, user, recent items) goes through the query tower once
        key = tf.strings.join(
            [
                query,
                user_id,
                tf.strings.reduce_join(recent_item_ids, axis=1, separator="\x1f"),
            ],
            separator="\x1e",
        )
        unique, rows = tf.unique(key)
        n = tf.shape(unique)[0]
        first = tf.math.unsorted_segment_min(tf.range(tf.shape(key)[0]), rows, n)
        q_unique = r.embed_query(
            tf.gather(query, first), tf.gather(user_id, first), tf.gather(recent_item_ids, first)
        )
        return self.ranker_embedded_scores(
            tf.gather(q_unique, rows), recent_item_ids, item_id, position, hour
        )

    def ranker_embedded_scores(self, query_embedding, recent_item_ids, item_id, position, hour):
        """The scores from the rows' query embeddings (the retrieval model's `query_encoder`
        output of the same request), without running the query tower again."""
        r = self.retrieval
        q_emb = tf.cast(query_embedding, tf.float32)
        item = r.item_table.lookup(item_id)
        i_emb = tf.gather(self.item_embeddings, item)
        hist = r.item_table.lookup(recent_item_ids)
        feats = {
            "query_embedding": q_emb,
            "item_embedding": i_emb,
            "item_idx": item,
            "hour": tf.cast(hour, tf.int64),
            "position": tf.cast(position, tf.int64),
            **self._history_features(hist, item),
        }
        for name, values in zip(self.item_feature_names, self.item_feature_values, strict=True):
            feats[name] = tf.gather(values, item)
        out = self.ranker(feats, training=False)
        logit = tf.reduce_sum(q_emb * i_emb, axis=-1) / self.temperature
        serving = tf.math.log(tf.maximum(out["score"], 1e-12))
        if self.ranker.retrieval_weight != 0.0:
            serving += self.ranker.retrieval_weight * logit
        return {
            "p_click": out["click"],
            "p_purchase": out["purchase"],
            "score": out["score"],
            "serving_score": serving,
            "retrieval_logit": logit,
            "in_catalog": item > 0,
        }

    def signatures(self) -> dict:
        spec = [
            tf.TensorSpec([None], tf.string, name="query"),
            tf.TensorSpec([None], tf.string, name="user_id"),
            tf.TensorSpec([None, None], tf.string, name="recent_item_ids"),
            tf.TensorSpec([None], tf.string, name="item_id"),
            tf.TensorSpec([None], tf.int64, name="position"),
            tf.TensorSpec([None], tf.int64, name="hour"),
        ]
        fn = tf.function(self.ranker_scores, input_signature=spec).get_concrete_function()
        dim = int(self.item_embeddings.shape[1])
        embedded_spec = [tf.TensorSpec([None, dim], tf.float32, name="query_embedding"), *spec[2:]]
        embedded = tf.function(
            self.ranker_embedded_scores, input_signature=embedded_spec
        ).get_concrete_function()
        return {"ranker": fn, "serving_default": fn, "ranker_embedded": embedded}


def ranker_example_inputs(data, ranker, n: int = 4) -> dict[str, np.ndarray]:
    """A small valid `ranker` request: two requests (a search with a user and history, a
    query-less anonymous one) over the same `n` catalog candidates.

    Args:
        data: the run's `PreparedData`.
        ranker: the `RankingModel` (its `serving_position` is sent as `position`).
        n: int. Candidates per request. Defaults to 4.

    Example:
        >>> ranker_example_inputs(data, ranker)["item_id"].shape  # doctest: +SKIP
        (8,)
    """
    catalog = data.catalog
    ids = list(catalog.item_ids[1 : n + 1])
    query = (data.queries[1:2] or ["gift"])[0]
    user = (data.user_vocab.values[1:2] or ["nobody"])[0]
    rows = len(ids)
    return {
        "query": np.array([query] * rows + [""] * rows, dtype=object),
        "user_id": np.array([user] * rows + [""] * rows, dtype=object),
        "recent_item_ids": np.array(
            [[catalog.item_ids[1], ""]] * rows + [["", ""]] * rows, dtype=object
        ),
        "item_id": np.array(ids * 2, dtype=object),
        "position": np.full(2 * rows, ranker.serving_position, np.int64),
        "hour": np.full(2 * rows, 12, np.int64),
    }


def reference_ranker_scores(builder, retrieval_model, ranker, inputs: dict, temperature: float):
    """The in-process `serving_scores` of a `ranker` request: query embeddings from the
    retrieval model, features from `RankingFeatureBuilder.candidate_features` (one request
    per row), the retrieval logit as query . item / temperature.

    Args:
        builder: the `RankingFeatureBuilder` of the run's data and retrieval model.
        retrieval_model: the `RetrievalModel` (with a text encoder attached).
        ranker: the `RankingModel`.
        inputs: dict of `ranker` signature inputs (see `ranker_example_inputs`).
        temperature: float. The retrieval model's softmax temperature.

    Returns:
        dict of `RankingModel.serving_scores` outputs (name -> np.ndarray [B]).

    Example:
        >>> reference_ranker_scores(builder, model, ranker, request, 0.05)  # doctest: +SKIP
    """
    data = builder.data
    recent = np.asarray(inputs["recent_item_ids"])
    history = data.item_vocab.lookup(list(np.ravel(recent))).reshape(recent.shape)
    feats = {
        "query": tf.constant(np.asarray(inputs["query"]).astype(str)),
        "user_idx": data.user_vocab.lookup(list(inputs["user_id"])),
        "history": history,
    }
    q_emb = retrieval_model.query_embeddings(feats).numpy()
    items = data.item_vocab.lookup(list(inputs["item_id"])).reshape(-1, 1)
    cand = builder.candidate_features(q_emb, items, np.asarray(inputs["hour"]), history)
    cand["retrieval_logit"] = (
        np.sum(cand["query_embedding"] * cand["item_embedding"], axis=1) / temperature
    ).astype(np.float32)
    out = ranker.serving_scores({k: tf.constant(v) for k, v in cand.items()})
    return {k: v.numpy() for k, v in out.items()}


def ranker_skip_reason(run: RunDir) -> str | None:
    """Why the run's ranker cannot be exported (None when it can).

    Example:
        >>> ranker_skip_reason(RunDir(Path("runs/new")))  # doctest: +SKIP
        'runs/new/ranking/model/model.json does not exist: ...'
    """
    model_json = run.ranker / "model.json"
    if not model_json.is_file():
        return (
            f"{model_json} does not exist: the run has no trained ranker (train it with "
            "`tfrec train ranking CONFIG`)"
        )
    return None


def export_ranker(
    cfg: Config,
    run: RunDir,
    model,
    data,
    index: ItemIndex,
    version: int | None = None,
    ranker_dir: Path | None = None,
) -> Path | None:
    """Export the run's trained ranker as `export/<export.ranker_model_name>/<version>/`
    (signature `ranker`, stock TF ops with the WordPiece tokenizer); None, with the reason
    printed, when the run has no trained ranker. The exported scores are compared with the
    in-process `serving_scores` on the warmup candidates before the version is published.

    Args:
        cfg: the run's config (`export`, `retrieval.temperature`, `text.checkpoint`).
        run: the run directory (its clean items are read, the version written).
        model: the trained `RetrievalModel` (with a text encoder attached).
        data: the run's `PreparedData`.
        index: the `ItemIndex` (its id table serves the retrieval side).
        version: int or None. The version number; None takes the next one.
        ranker_dir: the trained ranker's directory; None is the run's `ranking/model`.

    Returns:
        The published version directory, or None when the run has no trained ranker.

    Example:
        >>> export_ranker(cfg, run, model, data, index)  # doctest: +SKIP
        PosixPath('runs/quickstart/export/tfrec_ranker/1')
    """
    name = ranker_model_name(cfg)
    ranker_dir = Path(ranker_dir) if ranker_dir is not None else run.ranker
    if ranker_dir == run.ranker:
        reason = ranker_skip_reason(run)
        if reason:
            echo(f"[export] {name} skipped: {reason}")
            return None
    t0 = time.time()
    ranker, extras = load_ranking_model(ranker_dir)
    items = None
    if run.clean_table("items").exists():
        items = pd.read_parquet(run.clean_table("items"))
        items["item_id"] = items["item_id"].astype(str)
    # (only the builder's query_embeddings, which the export does not call, reads the queries)
    builder = RankingFeatureBuilder(data, model, ranking_queries(data), None, extras, items)
    n = len(data.catalog)
    dim = builder.item_embeddings.shape[1]
    every = builder.candidate_features(
        np.zeros((1, dim), np.float32),
        np.arange(n, dtype=np.int64).reshape(1, -1),
        np.zeros(1, np.int64),
        np.zeros((1, 1), np.int64),
    )
    skip = {"query_embedding", "item_embedding", "item_idx", "hour", *HISTORY_FEATURES}
    item_features = {k: v for k, v in every.items() if k not in skip}
    c = data.catalog
    catalog_features = {
        "category": c.category_idx,
        "brand": c.brand_idx,
        "price_bucket": c.price_bucket,
    }
    temperature = float(cfg.retrieval.temperature)
    retrieval = RetrievalServingModule(
        model,
        data,
        index,
        cfg.export.max_k,
        use_scann=False,
        tokenizer_implementation=STOCK_TOKENIZER,
        numeric_stats=run_numeric_stats(run, data),
    )
    module = RankerServingModule(
        retrieval, ranker, builder.item_embeddings, item_features, catalog_features, temperature
    )
    request = ranker_example_inputs(data, ranker)
    checked = {}

    def same_scores(loaded):
        got = loaded.signatures["ranker"](
            **{k: tf.constant(as_tensor_value(v)) for k, v in request.items()}
        )
        want = reference_ranker_scores(builder, model, ranker, request, temperature)
        diff = float(np.max(np.abs(got["serving_score"].numpy() - want["serving_score"])))
        # ranker_embedded: the same scores from the query encoder's embeddings of the rows
        q_emb = retrieval.query_encoder(
            *[tf.constant(as_tensor_value(request[k])) for k in RANKER_INPUTS[:3]]
        )["embedding"]
        embedded = loaded.signatures["ranker_embedded"](
            query_embedding=q_emb,
            **{k: tf.constant(as_tensor_value(request[k])) for k in RANKER_INPUTS[2:]},
        )
        diff = max(
            diff,
            float(np.max(np.abs(embedded["serving_score"].numpy() - want["serving_score"]))),
        )
        checked.update(diff=diff, n=len(want["serving_score"]))
        if diff > 1e-3:
            raise ValueError(
                f"the exported ranker's serving_score differs from the in-process model by {diff}"
            )

    info = {
        "run": str(run.root),
        "ranker": str(ranker_dir),
        "serving_position": ranker.serving_position,
        "retrieval_weight": ranker.retrieval_weight,
        "temperature": temperature,
        "optional_inputs": {**OPTIONAL_INPUTS, "position": ranker.serving_position},
        "tokenizer": STOCK_TOKENIZER,
        "text_checkpoint": cfg.text.checkpoint,
        "query_fingerprint": query_fingerprint(model, cfg.text.checkpoint),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    base = run.export_model(name)
    path = save_version(module, base, name, {"ranker": request}, info, version, same_scores)
    echo(
        f"[export] {path} ({time.time() - t0:.1f} s): signature ranker; exported serving_score "
        f"equals in-process serving_scores on {checked['n']} warmup candidates (max |diff| "
        f"{checked['diff']:.2e}); non-core ops: {', '.join(custom_op_types(path)) or 'none'}"
    )
    prune_versions(base, cfg.export.keep_versions)
    return path


def ranker_model_name(cfg: Config) -> str:
    """`export.ranker_model_name` when the config has it, else `<export.model_name>_ranker`.

    Example:
        >>> ranker_model_name(Config())  # doctest: +SKIP
        'tfrec_ranker'
    """
    return getattr(cfg.export, "ranker_model_name", None) or f"{cfg.export.model_name}_ranker"
