"""Graded judgments -> query lists for learning to rank.

- `clean_judgments`: the judgments table with stripped queries, catalog rows and only the
  queries that have at least one relevant (grade > 0) judged item in the catalog;
- `split_judged_queries`: judged queries split by query into train / val / test (disjoint, a
  seeded permutation), each capped;
- `JudgmentListBuilder`: the frozen retrieval model's query embeddings of judged queries (user
  unknown, no history: a judgment is about the query alone), its top candidates, and lists:
  a training list is the query's judged items (up to `max_judged`, a seeded sample) plus the
  unjudged items among its top retrieved candidates, labelled relevance 0; an evaluation list
  is the top retrieved candidates alone, labelled from the judgments (0 when unjudged);
- `listwise_dataset`: lists as a `tf.data.Dataset` of the `ListwiseRanker`'s inputs, the
  embeddings and item features gathered per batch (lists hold only item rows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.core.topk import top_k
from tfrec.data.prepared import PreparedData
from tfrec.data.ranking_examples import ranking_queries
from tfrec.models.listwise import PAD_LABEL
from tfrec.models.ranking_features import RankingFeatureBuilder
from tfrec.text.frozen import FrozenTextEmbedder

# queries -> a score for every catalog row [n, N] (e.g. BM25, the zero-shot cosine)
PairScorer = Callable[[list[str]], np.ndarray]


def clean_judgments(judgments: pd.DataFrame, data: PreparedData) -> pd.DataFrame:
    """`query` (stripped), `item_idx` (catalog row) and `relevance` of the judgments whose item
    is in the catalog, for queries with at least one relevant (> 0) judged item.

    Args:
        judgments: pd.DataFrame. The clean judgments table (`query`, `item_id`, `relevance`).
        data: PreparedData. Its item vocabulary.

    Example:
        >>> j = clean_judgments(read_clean_table(run, "judgments"), data)  # doctest: +SKIP
    """
    out = pd.DataFrame(
        {
            "query": judgments["query"].astype(str).str.strip(),
            "item_idx": data.item_vocab.lookup(judgments["item_id"].tolist()),
            "relevance": pd.to_numeric(judgments["relevance"]).astype(np.float64),
        }
    )
    out = out[(out["item_idx"] > 0) & (out["query"] != "")]
    out = out.groupby(["query", "item_idx"], as_index=False)["relevance"].max()
    useful = out.groupby("query")["relevance"].transform("max") > 0
    dropped = len(judgments) - int(useful.sum())
    if dropped:
        echo(
            f"[ranking] {dropped} of {len(judgments)} judgments left out (item not in the "
            "catalog, empty query, duplicate, or a query with no relevant item)"
        )
    return out[useful].reset_index(drop=True)


def split_judged_queries(
    queries, val_fraction: float, test_fraction: float, seed: int, max_train: int, max_eval: int
) -> dict[str, list[str]]:
    """Distinct `queries` split into disjoint `train`, `val` and `test` lists by a seeded
    permutation (test first, then val, the rest train); each then capped (0 = no cap).

    Args:
        queries: iterable of str. The judged queries (repeats are fine).
        val_fraction: float. Share held out for validation.
        test_fraction: float. Share held out for testing.
        seed: int. Seed of the permutation.
        max_train: int. Cap on training queries (0 = all).
        max_eval: int. Cap on validation and on test queries each (0 = all).

    Example:
        >>> s = split_judged_queries([f"q{i}" for i in range(10)], 0.2, 0.3, 0, 0, 0)
        >>> [len(s[k]) for k in ("train", "val", "test")]
        [5, 2, 3]
    """
    distinct = sorted(set(queries))
    n = len(distinct)
    n_test, n_val = max(1, round(test_fraction * n)), max(1, round(val_fraction * n))
    if n - n_test - n_val < 1:
        raise ValueError(
            f"{n} judged queries are too few to hold out {n_test} for testing and {n_val} for "
            "validation and train on the rest (judgments need at least 3 queries with a "
            "relevant item)"
        )
    order = [distinct[i] for i in np.random.default_rng(seed).permutation(n)]
    parts = {
        "test": order[:n_test],
        "val": order[n_test : n_test + n_val],
        "train": order[n_test + n_val :],
    }
    caps = {"train": max_train, "val": max_eval, "test": max_eval}
    return {k: (v[: caps[k]] if caps[k] else v) for k, v in parts.items()}


@dataclass
class JudgmentLists:
    """Padded query lists: `items` [n, L] catalog rows (0 = padding), `relevance` [n, L]
    (-1 = padding), `features` [n, L, F] per-pair scores named `feature_names`, and `rows` [n]
    (the query's row in the builder's query embeddings)."""

    queries: list[str]
    rows: np.ndarray
    items: np.ndarray
    relevance: np.ndarray
    features: np.ndarray
    feature_names: list[str]

    def __len__(self) -> int:
        return len(self.queries)


class JudgmentListBuilder:
    """Query embeddings, retrieval candidates and judged lists for a set of judged queries.

    Args:
        cfg: the run's config (`text` for the query text of frozen-mode models,
            `retrieval.temperature`, `ranking.judgment_*`).
        data: PreparedData. The run's prepared data.
        retrieval_model: the trained `RetrievalModel` (frozen).
        judged: pd.DataFrame. `clean_judgments`'s table.
        pair_scorers: dict. Name -> `PairScorer`: per-pair scores the lists carry beside the
            retrieval logit (list features of the listwise ranker). Defaults to none.

    Example:
        >>> builder = JudgmentListBuilder(cfg, data, model, clean_judgments(j, data))  # doctest: +SKIP
        >>> train = builder.training_lists(split["train"], 50, 50, seed=42)  # doctest: +SKIP
    """

    def __init__(self, cfg: Config, data: PreparedData, retrieval_model, judged, pair_scorers=None):
        self.cfg = cfg
        self.data = data
        self.pair_scorers = dict(pair_scorers or {})
        self.feature_names = ["retrieval_logit", *self.pair_scorers]
        self.gains = {
            q: dict(zip(g["item_idx"].tolist(), g["relevance"].tolist()))
            for q, g in judged.groupby("query", sort=False)
        }
        known = ranking_queries(data)
        queries = [*known, *sorted(set(self.gains) - set(known))]
        table = None
        if not retrieval_model.train_text:  # frozen text: one text embedding row per query
            table = retrieval_model.query_text_table.numpy()
            rest = queries[len(table) :]
            if rest:
                embed = FrozenTextEmbedder(cfg)
                table = np.vstack([table, embed(rest)]).astype(np.float32)
                echo(
                    f"[ranking] {len(rest)} judged or impression-only queries the retrieval "
                    f"model has no text row for: {embed.last_hits} cached, "
                    f"{embed.last_computed} encoded"
                )
        features = RankingFeatureBuilder(data, retrieval_model, queries, table)
        self.item_embeddings = np.asarray(features.item_embeddings, np.float32)
        judged = sorted(self.gains)
        index = {q: i for i, q in enumerate(queries)}
        frame = pd.DataFrame(
            {
                "query_idx": np.array([index[q] for q in judged], np.int64),
                "user_idx": np.zeros(len(judged), np.int64),
                "history": [np.zeros(data.max_history, np.int64)] * len(judged),
            }
        )
        # judged query -> its row of `query_embeddings` (user unknown, no history)
        self.row = {q: i for i, q in enumerate(judged)}
        self.query_embeddings = np.asarray(features.query_embeddings(frame), np.float32)

    def ideal_gains(self, query: str) -> np.ndarray:
        """Every judged grade of `query` (the ideal ordering's gains for NDCG)."""
        return np.array(list(self.gains.get(query, {}).values()), np.float64)

    def relevance(self, query: str, items: np.ndarray) -> np.ndarray:
        """The judged grade of each of `items` for `query` (0 when unjudged)."""
        g = self.gains.get(query, {})
        return np.array([g.get(int(i), 0.0) for i in items], np.float64)

    def retrieval_scores(self, queries: list[str]) -> np.ndarray:
        """Retrieval logits (dot / temperature) of every catalog row [n, N] (padding row -inf)."""
        q = self.query_embeddings[[self.row[x] for x in queries]]
        scores = (q @ self.item_embeddings.T) / self.cfg.retrieval.temperature
        scores[:, 0] = -np.inf
        return scores

    def retrieve(self, queries: list[str], k: int) -> np.ndarray:
        """The top `k` catalog rows per query by the retrieval model, best first [n, k]."""
        out = [
            top_k(self.retrieval_scores(queries[s : s + 512]), k, exclude_all=[0])
            for s in range(0, len(queries), 512)
        ]
        return np.concatenate(out) if out else np.zeros((0, k), np.int64)

    def training_lists(
        self, queries: list[str], candidates: int, max_judged: int, seed: int
    ) -> JudgmentLists:
        """Each query's judged items (up to `max_judged`, a seeded sample) plus the unjudged
        items among its top `candidates` retrieved, which are labelled relevance 0."""
        rng = np.random.default_rng(seed)
        top = self.retrieve(queries, candidates)
        rows = []
        for q, cands in zip(queries, top):
            judged = np.array(list(self.gains[q]), np.int64)
            if len(judged) > max_judged:
                judged = rng.choice(judged, max_judged, replace=False)
            unjudged = np.array([i for i in cands if int(i) not in self.gains[q]], np.int64)
            rows.append(np.concatenate([judged, unjudged]))
        return self._lists(queries, rows)

    def candidate_lists(self, queries: list[str], candidates: int) -> JudgmentLists:
        """The top `candidates` retrieved per query, in retrieval order, labelled from the
        judgments (0 when unjudged)."""
        return self._lists(queries, list(self.retrieve(queries, candidates)))

    def _lists(self, queries: list[str], rows: list[np.ndarray]) -> JudgmentLists:
        n, width = len(queries), max((len(r) for r in rows), default=0)
        items = np.zeros((n, width), np.int64)
        rel = np.full((n, width), PAD_LABEL, np.float32)
        for i, (q, r) in enumerate(zip(queries, rows)):
            items[i, : len(r)] = r
            rel[i, : len(r)] = self.relevance(q, r)
        feats = np.zeros((n, width, len(self.feature_names)), np.float32)
        scorers = {"retrieval_logit": self.retrieval_scores, **self.pair_scorers}
        for start in range(0, n, 256):
            chunk = slice(start, start + 256)
            for f, name in enumerate(self.feature_names):
                full = np.asarray(scorers[name](queries[chunk]), np.float64)
                full = np.where(np.isfinite(full), full, 0.0)
                feats[chunk, :, f] = np.take_along_axis(full, items[chunk], axis=1)
        feats[items == 0] = 0.0
        return JudgmentLists(
            list(queries),
            np.array([self.row[q] for q in queries], np.int64),
            items,
            rel,
            feats,
            list(self.feature_names),
        )


def listwise_dataset(
    lists: JudgmentLists,
    builder: JudgmentListBuilder,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    labels: bool = True,
) -> tf.data.Dataset:
    """Batches of the `ListwiseRanker`'s inputs (and the relevance labels) for `lists`.

    Args:
        lists: JudgmentLists. The padded lists.
        builder: JudgmentListBuilder. Its query and item embeddings.
        batch_size: int. Lists per batch.
        shuffle: bool. Reshuffle every epoch. Defaults to False.
        seed: int. Shuffle seed. Defaults to 0.
        labels: bool. Yield (inputs, relevance) instead of inputs alone. Defaults to True.

    Example:
        >>> ds = listwise_dataset(train, builder, 32, shuffle=True, seed=42)  # doctest: +SKIP
    """
    c = builder.data.catalog
    query_emb = tf.constant(builder.query_embeddings)
    item_emb = tf.constant(builder.item_embeddings)
    category = tf.constant(np.asarray(c.category_idx, np.int64))
    brand = tf.constant(np.asarray(c.brand_idx, np.int64))
    price = tf.constant(np.asarray(c.price_bucket, np.int64))

    def gather(x, y):
        items = x["items"]
        inputs = {
            "query_embedding": tf.gather(query_emb, x["row"]),
            "item_embedding": tf.gather(item_emb, items),
            "category": tf.gather(category, items),
            "brand": tf.gather(brand, items),
            "price_bucket": tf.gather(price, items),
            "list_features": x["features"],
            "mask": tf.cast(y > PAD_LABEL / 2, tf.float32),
        }
        return (inputs, y) if labels else inputs

    ds = tf.data.Dataset.from_tensor_slices(
        ({"row": lists.rows, "items": lists.items, "features": lists.features}, lists.relevance)
    )
    if shuffle:
        ds = ds.shuffle(len(lists), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).map(gather).prefetch(tf.data.AUTOTUNE)
