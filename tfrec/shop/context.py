"""Everything the shop capabilities read, gathered once: `ShopContext`.

The capabilities (home feed, session intent, similar and complementary items, explanations,
diversity) work on numpy arrays so the library, the `tfrec` commands, the evaluation and the
server share one implementation:

- the catalog (ids, titles, category paths and indices, brands, price buckets);
- the two-tower item embeddings (`item_embeddings`, L2-normalised, row 0 = padding) and the
  frozen text encoder's item embeddings (`text_embeddings`, for semantic similarity);
- popularity and session co-occurrence counts (`coview`: any positive event in the same session;
  `copurchase`: add-to-cart or purchase in the same session / invoice), from the training split
  (offline evaluation, leak-free) or from every split (serving);
- each user's recent items (the home-feed state) and the query tower as a callable
  (`QueryEncoder`: queries, user indices, histories -> embeddings).

Build it from prepared data and item embeddings with `ShopContext.from_prepared(data,
item_embeddings, ...)`; `tfrec.stages.shop_context.shop_context_for_run(art)` builds the one of a
trained run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tfrec.shop.cooccurrence import CoCounts

PAD = 0
# (queries [B] str, user_idx [B] int, history [B, L] int) -> [B, D] query-side embeddings
QueryEncoder = Callable[[Sequence[str], np.ndarray, np.ndarray], np.ndarray]
# (query embeddings [B, D], n) -> [B, <= n] context rows of the index's top n, best first
# (rows < 1: no item); see tfrec.shop.retrieve
CandidateSearch = Callable[[np.ndarray, int], np.ndarray]


class UnknownItemError(KeyError, ValueError):
    """An item id that is not in the catalog. The message names the id. A `ValueError` as well,
    so the `tfrec` command prints it as a clear error."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown item"


def normalise_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


class ModelQueryEncoder:
    """The query tower of a `RetrievalModel` as a `QueryEncoder`.

    Known queries (those of the training data) use the model's cached query text table; any
    other query string needs a text encoder, attached on first use from `text_encoder_factory`.

    Args:
        model: RetrievalModel.
        queries: list of str. The run's known queries (`PreparedData.queries`, index 0 = "").
        text_encoder_factory: callable returning a `TextEncoder`, or None. Used once, when a
            query outside `queries` arrives and the model has no encoder. Defaults to None.
    """

    def __init__(self, model, queries: list[str], text_encoder_factory=None):
        self.model = model
        self.queries = queries
        self.text_encoder_factory = text_encoder_factory
        self._index = {q: i for i, q in enumerate(queries)}

    def __call__(self, queries, user_idx, history) -> np.ndarray:
        queries = [str(q or "").strip() for q in queries]
        idx = [self._index.get(q) for q in queries]
        feats = {
            "user_idx": np.asarray(user_idx, np.int64).reshape(-1),
            "history": np.asarray(history, np.int64),
        }
        if all(i is not None for i in idx) and not self.model.train_text:
            feats["query_idx"] = np.asarray(idx, np.int64)
        else:
            if self.model.text_encoder is None:
                if self.text_encoder_factory is None:
                    unknown = next(q for q, i in zip(queries, idx) if i is None)
                    raise ValueError(
                        f"query {unknown!r} is not one of the run's known queries and the model "
                        "has no text encoder attached"
                    )
                self.model.attach_text_encoder(self.text_encoder_factory())
            feats["query"] = np.asarray(queries, dtype=object).astype(str)
        return self.model.query_embeddings(feats).numpy()


def user_states(
    retrieval: pd.DataFrame, max_history: int, splits: Sequence[str] | None = None
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per user: the last `max_history` distinct positive items (most recent last) and every
    item the user interacted with, from the retrieval examples of `splits` (None: all)."""
    frame = retrieval if splits is None else retrieval[retrieval.split.isin(list(splits))]
    frame = frame.sort_values("timestamp", kind="stable")
    recent: dict[str, np.ndarray] = {}
    seen: dict[str, np.ndarray] = {}
    for user, items in frame.groupby("user_id", sort=False)["item_idx"]:
        values = items.to_numpy()
        # distinct, keeping each item's last occurrence, in time order
        rev_unique, first = np.unique(values[::-1], return_index=True)
        ordered = rev_unique[np.argsort(first)][::-1]
        recent[str(user)] = ordered[-max_history:].astype(np.int64)
        seen[str(user)] = np.unique(values).astype(np.int64)
    return recent, seen


@dataclass
class ShopContext:
    """The arrays the shop capabilities read.

    Args:
        item_ids: list of str [N]. Row 0 is the padding item.
        titles: list of str [N].
        categories: list of str [N]. Category paths ("A > B > C").
        brands: list of str [N].
        prices: np.ndarray [N] float (NaN = unknown).
        category_idx: np.ndarray [N, 3] int. One vocabulary per taxonomy level, 0 = unknown.
        brand_idx: np.ndarray [N] int. 0 = unknown.
        price_bucket: np.ndarray [N] int. 0 = unknown price.
        item_embeddings: np.ndarray [N, D]. Two-tower item embeddings (normalised here).
        text_embeddings: np.ndarray [N, H] or None. Frozen text-encoder embeddings (semantic).
        popularity: np.ndarray [N] float. Interactions per item.
        coview: CoCounts. Items with a positive event in the same session.
        copurchase: CoCounts. Items added to cart or bought in the same session / invoice.
        user_index: dict of str to int. User id -> the query tower's user index (0 = unknown).
        user_histories: dict of str to np.ndarray. User id -> recent items, most recent last.
        user_seen: dict of str to np.ndarray. User id -> every item interacted with.
        max_history: int. Length of the query tower's history input.
        query_encoder: QueryEncoder or None. Needed by the feed, session intent and search.
        queries: list of str. Known queries (index 0 = "").
        texts: list of str [N] or None. Item texts (title and description), for the BM25 index
            of hybrid search (`lexical_index`); None: the titles.
        candidate_search: CandidateSearch or None. An item index over `item_embeddings` (the
            served ScaNN index): dense scoring then re-scores exactly only its top candidates
            (`tfrec.shop.retrieve.dense_scores`); None: a matmul over every item.
        unindexed_rows: np.ndarray [M] int or None. Rows `candidate_search` does not find (or
            finds with other vectors): items added or re-embedded after the index was built;
            always scored exactly.
    """

    item_ids: list[str]
    titles: list[str]
    categories: list[str]
    brands: list[str]
    prices: np.ndarray
    category_idx: np.ndarray
    brand_idx: np.ndarray
    price_bucket: np.ndarray
    item_embeddings: np.ndarray
    text_embeddings: np.ndarray | None
    popularity: np.ndarray
    coview: CoCounts
    copurchase: CoCounts
    user_index: dict[str, int] = field(default_factory=dict)
    user_histories: dict[str, np.ndarray] = field(default_factory=dict)
    user_seen: dict[str, np.ndarray] = field(default_factory=dict)
    max_history: int = 20
    query_encoder: QueryEncoder | None = None
    queries: list[str] = field(default_factory=lambda: [""])
    texts: list[str] | None = None
    candidate_search: CandidateSearch | None = None
    unindexed_rows: np.ndarray | None = None

    def __post_init__(self):
        self.item_embeddings = normalise_rows(self.item_embeddings)
        self.item_embeddings[PAD] = 0
        if self.text_embeddings is not None:
            self.text_embeddings = normalise_rows(self.text_embeddings)
            self.text_embeddings[PAD] = 0
        self._item_index = {v: i for i, v in enumerate(self.item_ids)}
        self._item_index.pop(self.item_ids[PAD], None)
        self.leaf_idx = _leaf_index(self.category_idx)
        self.popularity = np.asarray(self.popularity, np.float64)
        # popularity_position[i]: 0-based rank of item i by interactions (padding last)
        self.popularity_position = np.empty(self.num_items, np.int64)
        self.popularity_position[self.popularity_rank()] = np.arange(self.num_items - 1)
        self.popularity_position[PAD] = self.num_items - 1
        self._lexical = None  # the BM25 index, built by lexical_index() on first use

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    # --- lookups -----------------------------------------------------------------------------

    def item_index(self, item_id: str) -> int:
        """The row of an item id; `UnknownItemError` when the catalog has no such item."""
        idx = self._item_index.get(str(item_id))
        if idx is None:
            raise UnknownItemError(
                f"unknown item id {str(item_id)!r}: not in the catalog of {self.num_items - 1} "
                "items"
            )
        return idx

    def known_items(self, item_ids: Sequence[str]) -> tuple[list[int], list[str]]:
        """(rows of the known ids, in order; the unknown ids)."""
        rows, unknown = [], []
        for item_id in item_ids:
            idx = self._item_index.get(str(item_id))
            if idx is None:
                unknown.append(str(item_id))
            else:
                rows.append(idx)
        return rows, unknown

    def popularity_rank(self) -> np.ndarray:
        """Item rows by popularity, most popular first (padding excluded); ties by row."""
        order = np.lexsort((np.arange(self.num_items), -self.popularity))
        return order[order != PAD]

    def item_summary(self, idx: int) -> dict:
        price = self.prices[idx] if self.prices is not None else np.nan
        return {
            "item_id": self.item_ids[idx],
            "title": self.titles[idx],
            "category": self.categories[idx],
            "brand": self.brands[idx],
            "price": None if price is None or np.isnan(price) else round(float(price), 2),
        }

    def lexical_index(self):
        """The BM25 index (`tfrec.text.lexical.LexicalIndex`) over the items' texts, category
        paths and brands, for hybrid search; built on first use and again once items are added
        (`add_items_to_context` drops it)."""
        index = self._lexical
        if index is None or index.num_items != self.num_items:
            # deferred: tfrec.text's package imports TensorFlow; only hybrid search needs BM25
            from tfrec.text.lexical import LexicalIndex, item_documents

            texts = self.texts if self.texts is not None else self.titles
            index = LexicalIndex(item_documents(texts, self.categories, self.brands))
            self._lexical = index
        return index

    # --- construction ------------------------------------------------------------------------

    @classmethod
    def from_prepared(
        cls,
        data,
        item_embeddings: np.ndarray,
        text_embeddings: np.ndarray | None = None,
        query_encoder: QueryEncoder | None = None,
        splits: Sequence[str] | None = ("train",),
    ) -> ShopContext:
        """A context from `PreparedData`. `splits` chooses the events behind popularity,
        co-occurrence and user histories: ("train",) for leak-free offline evaluation, None for
        every event (serving)."""
        c = data.catalog
        r = data.retrieval if splits is None else data.retrieval[data.retrieval.split.isin(splits)]
        n = len(c)
        popularity = np.bincount(r["item_idx"].to_numpy(), minlength=n).astype(np.float64)
        coview = CoCounts.from_sessions(r["session_id"], r["item_idx"].to_numpy(), n)
        basket = r[r["strength"] >= 2]
        copurchase = CoCounts.from_sessions(basket["session_id"], basket["item_idx"].to_numpy(), n)
        histories, seen = user_states(r, data.max_history)
        return cls(
            item_ids=list(c.item_ids),
            titles=list(c.titles),
            categories=list(c.categories) or [""] * n,
            brands=list(c.brands) or [""] * n,
            prices=np.array(c.prices, np.float64) if c.prices is not None else np.full(n, np.nan),
            category_idx=np.array(c.category_idx, np.int64),
            brand_idx=np.array(c.brand_idx, np.int64),
            price_bucket=np.array(c.price_bucket, np.int64),
            item_embeddings=item_embeddings,
            text_embeddings=text_embeddings,
            popularity=popularity,
            coview=coview,
            copurchase=copurchase,
            user_index={u: i for i, u in enumerate(data.user_vocab.values) if i != PAD},
            user_histories=histories,
            user_seen=seen,
            max_history=data.max_history,
            query_encoder=query_encoder,
            queries=list(data.queries),
            texts=list(c.texts),
        )


def _leaf_index(category_idx: np.ndarray) -> np.ndarray:
    """The deepest known category level's (level, index) as one integer per item (0 = none)."""
    category_idx = np.asarray(category_idx, np.int64)
    if category_idx.ndim != 2 or category_idx.shape[1] == 0:
        return np.zeros(len(category_idx), np.int64)
    levels = category_idx.shape[1]
    width = int(category_idx.max()) + 1
    leaf = np.zeros(len(category_idx), np.int64)
    for lvl in range(levels):
        known = category_idx[:, lvl] > 0
        leaf[known] = lvl * width + category_idx[known, lvl]
    return leaf
