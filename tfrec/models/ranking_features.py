"""The ranker's features: ranking frames and retrieval candidates -> feature arrays.

The trained retrieval model is frozen here: its query/user tower and item tower outputs are
the ranker's embedding features (`RankingFeatureBuilder`); a frozen-mode model embeds the
ranking queries through a text-embedding table (`ranking_query_text_table`, with
`_QueryTextLookup` standing in for its text encoder). `make_dataset` turns feature and label
arrays into the batched `tf.data.Dataset` the ranker trains on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.core.topk import top_k
from tfrec.data.ranking_examples import history_features, item_feature_arrays
from tfrec.text.frozen import FrozenTextEmbedder


class _QueryTextLookup:
    """Raw query string -> its row of a text-embedding table; stands in for a `TextEncoder` so
    the retrieval model embeds queries it has no table row for (frozen mode)."""

    def __init__(self, queries: list[str], table: np.ndarray):
        self.table = tf.constant(table, tf.float32)
        self.index = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(queries), tf.range(len(queries), dtype=tf.int64)
            ),
            default_value=0,
        )

    def __call__(self, strings: tf.Tensor, training: bool = False) -> tf.Tensor:
        return tf.gather(self.table, self.index.lookup(strings))


def ranking_query_text_table(cfg: Config, retrieval_model, queries: list[str]) -> np.ndarray:
    """Frozen-encoder embeddings of every ranking query: the retrieval model's own rows for its
    known queries, the embedding cache (encoding what is missing) for impression-only ones.

    Args:
        cfg: the run's config (`text`: checkpoint, cache, batch size).
        retrieval_model: the trained frozen-mode `RetrievalModel` (its `query_text_table`).
        queries: list of str. `ranking_queries(data)`: the model's queries first, then the
            queries that occur in impressions only.

    Example:
        >>> table = ranking_query_text_table(cfg, retrieval_model, ranking_queries(data))  # doctest: +SKIP
        >>> table.shape[0] == len(ranking_queries(data))  # doctest: +SKIP
        True
    """
    known = retrieval_model.query_text_table.numpy()
    if len(queries) == len(known):
        return known
    embed = FrozenTextEmbedder(cfg)
    extra = embed(queries[len(known) :])
    echo(
        f"[ranking] {len(extra)} impression-only queries: {embed.last_hits} cached, "
        f"{embed.last_computed} encoded"
    )
    return np.vstack([known, extra]).astype(np.float32)


class RankingFeatureBuilder:
    """Turns ranking frames and evaluation candidates into the ranker's feature arrays.

    Args:
        data: PreparedData. The run's prepared data.
        retrieval_model: the trained `RetrievalModel` (its towers are not changed).
        queries: list of str. `ranking_queries(data)`.
        query_text_table: np.ndarray [len(queries), H] or None. Text embeddings of `queries` for a
            frozen-mode model (None when the model embeds raw strings with a live encoder).
        extras: ExtraFeatureEncoder or None. Config-declared extras.
        items: pd.DataFrame or None. The clean items table (item-level extras of candidates).

    Example:
        >>> queries = ranking_queries(data)  # doctest: +SKIP
        >>> builder = RankingFeatureBuilder(data, retrieval_model, queries, table)  # doctest: +SKIP
        >>> feats, labels = builder.frame_features(ranking_frame(data, "train", queries))  # doctest: +SKIP
        >>> feats["query_embedding"].shape  # doctest: +SKIP
        (740, 16)
    """

    def __init__(
        self, data, retrieval_model, queries, query_text_table=None, extras=None, items=None
    ):
        self.data = data
        self.items = items
        self.retrieval_model = retrieval_model
        self.queries = list(queries)
        self.query_text_table = query_text_table
        self.extras = extras
        self.item_embeddings = retrieval_model.all_item_embeddings()

    def query_embeddings(self, frame: pd.DataFrame, batch_size: int = 1024) -> np.ndarray:
        """Query-tower outputs for rows with `query_idx` (into `queries`), `user_idx`, `history`."""
        model = self.retrieval_model
        attach = not model.train_text and model.text_encoder is None
        if attach:
            if self.query_text_table is None:
                raise ValueError("a frozen-mode retrieval model needs `query_text_table`")
            model.attach_text_encoder(_QueryTextLookup(self.queries, self.query_text_table))
        try:
            out = []
            for start in range(0, len(frame), batch_size):
                chunk = frame.iloc[start : start + batch_size]
                feats = {
                    "query": tf.constant(
                        [self.queries[i] for i in chunk["query_idx"].to_numpy()], tf.string
                    ),
                    "user_idx": chunk["user_idx"].to_numpy(np.int64),
                    "history": np.stack(chunk["history"].to_numpy()).astype(np.int64),
                }
                out.append(model.query_embeddings(feats).numpy())
        finally:
            if attach:
                model.text_encoder = None
                model.item_text_encoder = None
        dim = self.item_embeddings.shape[1]
        return np.concatenate(out) if out else np.zeros((0, dim), np.float32)

    def frame_features(self, frame: pd.DataFrame) -> tuple[dict, dict]:
        """(features, labels) of a ranking frame; query embeddings computed once per search."""
        firsts = frame.drop_duplicates("search_id")
        q = self.query_embeddings(firsts)
        row_of = pd.Series(np.arange(len(firsts)), index=firsts["search_id"].to_numpy())
        q_emb = q[row_of.loc[frame["search_id"].to_numpy()].to_numpy()]
        item_idx = frame["item_idx"].to_numpy(np.int64)
        history = np.stack(frame["history"].to_numpy())
        feats = self._features(q_emb, item_idx, frame["hour"].to_numpy(np.int64), history, frame)
        feats["position"] = frame["position"].to_numpy(np.int64)
        labels = {k: frame[k].to_numpy(np.float32) for k in ("click", "purchase")}
        return feats, labels

    def unshown_negatives(
        self, frame: pd.DataFrame, per_search: int, candidates: int, position: int, seed: int
    ) -> pd.DataFrame:
        """Rows for retrieval candidates that a search did not show: for every search, up to
        `per_search` items drawn from the retrieval model's top `candidates` for it, minus the
        shown items, labelled not clicked, at `position` (0: the model's "retrieved but not
        shown" bucket, so they do not bias the logits of real positions).

        The ranker scores retrieval candidates at serving time, and most of them were never
        shown; trained on shown items only, it never learns that the retrieval model's
        lower-ranked candidates are rarely what a search leads to."""
        if per_search <= 0:
            return frame.iloc[:0]
        firsts = frame.drop_duplicates("search_id").reset_index(drop=True)
        shown = frame.groupby("search_id")["item_idx"].agg(set).to_dict()
        search_ids = firsts["search_id"].to_numpy()
        rng = np.random.default_rng(seed)
        q = self.query_embeddings(firsts)
        rows, items = [], []
        for start in range(0, len(firsts), 512):
            top = top_k(q[start : start + 512] @ self.item_embeddings.T, candidates)
            for offset, cands in enumerate(top):
                row = start + offset
                seen = shown[search_ids[row]]
                pool = [i for i in cands if i not in seen]
                if pool:
                    pick = rng.choice(pool, size=min(per_search, len(pool)), replace=False)
                    rows += [row] * len(pick)
                    items += pick.tolist()
        extra = firsts.iloc[rows].reset_index(drop=True).copy()
        extra["item_idx"] = np.asarray(items, np.int64)
        extra["item_id"] = [self.data.catalog.item_ids[i] for i in items]
        extra["position"] = position
        for label in ("click", "add_to_cart", "purchase"):
            extra[label] = 0.0
        if self.extras is not None:
            for name in self.extras.kinds:
                if self.items is not None and name in self.items:
                    extra[name] = self._item_extra(name, extra)
        return extra

    def candidate_features(
        self,
        query_emb: np.ndarray,
        candidates: np.ndarray,
        hours: np.ndarray,
        histories: np.ndarray,
    ) -> dict:
        """Features of `candidates` [n, C] item indices for n requests with query embeddings
        [n, D], hours [n] and user histories [n, L] (serving: no position)."""
        n, c = candidates.shape
        flat = candidates.reshape(-1)
        frame = pd.DataFrame({"item_id": [self.data.catalog.item_ids[i] for i in flat]})
        return self._features(
            np.repeat(query_emb, c, axis=0),
            flat,
            np.repeat(hours, c),
            np.repeat(np.asarray(histories, np.int64), c, axis=0),
            frame,
        )

    def _features(self, q_emb, item_idx, hours, history, frame) -> dict:
        feats = {
            "query_embedding": q_emb.astype(np.float32),
            "item_embedding": self.item_embeddings[item_idx].astype(np.float32),
            "item_idx": np.asarray(item_idx, np.int64),
            "hour": hours.astype(np.int64),
            **item_feature_arrays(self.data, item_idx),
            **history_features(self.data, history, item_idx),
        }
        if self.extras is not None and self.extras.kinds:
            frame = frame.copy()
            for name in self.extras.kinds:
                if name not in frame:
                    frame[name] = self._item_extra(name, frame)
            feats.update(self.extras.transform(frame))
        return feats

    def _item_extra(self, name: str, frame: pd.DataFrame) -> pd.Series:
        """An item-level extra of candidates; context extras (event columns) are unknown for
        candidates that were never shown, and get the encoder's default (unknown / mean)."""
        if self.items is not None and name in self.items:
            return frame["item_id"].map(self.items.set_index("item_id")[name])
        return pd.Series(np.nan, index=frame.index, dtype="object")


def make_dataset(
    feats: dict,
    labels: dict,
    batch_size: int,
    shuffle: bool,
    seed: int,
    drop_remainder: bool = False,
):
    """Feature and label arrays as a batched, prefetched `tf.data.Dataset` of (features, labels).

    Args:
        feats: dict of np.ndarray. The ranker's features (`RankingFeatureBuilder`).
        labels: dict of np.ndarray. `click` and `purchase` labels, same rows.
        batch_size: int. Rows per batch.
        shuffle: bool. Reshuffle every epoch (training) or keep the order (validation).
        seed: int. Shuffle seed.
        drop_remainder: bool. Drop the last partial batch, so every batch has the static shape
            a TPU or XLA needs (`training.static_shapes`). Defaults to False.

    Example:
        >>> ds = make_dataset({"hour": np.arange(4)}, {"click": np.ones(4)}, 2, False, 0)
        >>> [len(f["hour"]) for f, _ in ds]
        [2, 2]
    """
    ds = tf.data.Dataset.from_tensor_slices((feats, labels))
    if shuffle:
        ds = ds.shuffle(
            min(len(labels["click"]), 200_000), seed=seed, reshuffle_each_iteration=True
        )
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
