"""Ranking examples from impressions: one row per shown item, with the ranker's features.

`PreparedData.impressions` holds one row per (session, query, shown item) with its position and
the click / add_to_cart / purchase that followed in the same session and query (impressions
without a click are the negatives); its `split` is the time split of the data stage. This module
adds what the ranker reads:

- `query_idx`: the row of the query in `ranking_queries(data)` (the retrieval queries first, in
  the same order, then queries that only ever appear in impressions);
- `user_idx` (training users; 0 = unknown) and `history`: the user's last `max_history` distinct
  positive items strictly before the search's first impression (the same rule as the retrieval
  examples: nothing at or after the example's own time feeds a feature);
- `hour` (0-23) of the impression and `position` as an integer (missing positions are an error);
- the item's `category` levels, `brand` and `price_bucket` (from the catalog by `item_idx`);
- user-item features from the history (`history_features`): how many history items there are,
  the item's price bucket minus the history's mean, and the share of history items with the
  item's brand, leaf category and mid-level category;
- config-declared extras, read from the impression's event row or from the items table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tfrec.data.catalog import Vocabulary
from tfrec.data.prepared import PreparedData, histories_before
from tfrec.data.schema import EVENT_STRENGTH

LABEL_COLUMNS = ("click", "add_to_cart", "purchase")
HISTORY_FEATURES = (
    "history_length",
    "history_price_gap",
    "history_brand_share",
    "history_leaf_share",
    "history_mid_share",
)


def ranking_queries(data: PreparedData) -> list[str]:
    """The retrieval queries (same indices as `data.queries`) followed by the queries that
    appear only in impressions, sorted."""
    known = set(data.queries)
    extra = sorted(set(data.impressions["query"].astype(str)) - known)
    return [*data.queries, *extra]


def _positives(data: PreparedData, events: pd.DataFrame | None) -> pd.DataFrame:
    """Positive interactions (user_id, timestamp, item_idx) for history features."""
    if events is None:
        return data.retrieval[["user_id", "timestamp", "item_idx"]]
    strength = events["event"].map(EVENT_STRENGTH).fillna(1)
    pos = events.loc[strength >= 1, ["user_id", "timestamp", "item_id"]].copy()
    pos["item_idx"] = data.item_vocab.lookup(pos["item_id"].tolist())
    return pos[pos["item_idx"] > 0]


def ranking_frame(
    data: PreparedData,
    split: str,
    queries: list[str] | None = None,
    events: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    extra_features: dict[str, str] | None = None,
) -> pd.DataFrame:
    """The impressions of one split with the ranker's features (see the module docstring).

    Args:
        data: the prepared data of the run.
        split: `train`, `val` or `test`.
        queries: `ranking_queries(data)` (computed when None).
        events: the clean events table; histories use every positive event (click, add_to_cart,
            purchase). When None, the retrieval examples are used (their first strongest
            interaction per session, query and item).
        items: the clean items table, for item-level extras.
        extra_features: name -> `numeric` | `categorical`; each is a column of the events (read
            from the impression's own row) or of the items table.
    """
    imp = data.impressions
    frame = imp[imp["split"] == split].reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"no impressions in split {split!r}: ranking needs logged impressions")
    position = pd.to_numeric(frame["position"], errors="coerce")
    if position.isna().any():
        bad = frame.loc[position.isna(), ["session_id", "query", "item_id"]].head(3)
        raise ValueError(
            f"{int(position.isna().sum())} of {len(frame)} impressions in split {split!r} have no "
            "position (events.position); ranking needs the rank each item was shown at. First: "
            + "; ".join(
                f"session {r.session_id!r} query {r.query!r} item {r.item_id!r}"
                for r in bad.itertuples()
            )
        )
    frame["position"] = position.astype(np.int64)
    queries = queries if queries is not None else ranking_queries(data)
    q_index = {q: i for i, q in enumerate(queries)}
    unknown = sorted(set(frame["query"].astype(str)) - set(q_index))
    if unknown:
        raise ValueError(f"queries not in the ranking query list: {unknown[:3]}")
    frame["query_idx"] = frame["query"].astype(str).map(q_index).astype(np.int64)
    frame["user_idx"] = data.user_vocab.lookup(frame["user_id"].tolist())
    frame["hour"] = frame["timestamp"].dt.hour.astype(np.int64)

    # one history per search (session, query), taken at its first impression
    groups = frame.groupby(["session_id", "query"], sort=False)["timestamp"].transform("min")
    frame["search_time"] = groups
    first = frame.drop_duplicates(["session_id", "query"])[
        ["session_id", "query", "user_id", "search_time"]
    ].rename(columns={"search_time": "timestamp"})
    hist = histories_before(
        _positives(data, events), first[["user_id", "timestamp"]], data.max_history
    )
    first = first.assign(history=list(hist))[["session_id", "query", "history"]]
    frame = frame.merge(first, on=["session_id", "query"], how="left")
    frame["search_id"] = frame.groupby(["session_id", "query"], sort=False).ngroup()

    for name, kind in (extra_features or {}).items():
        frame[name] = _extra_column(frame, name, kind, events, items)
    return frame


def _extra_column(
    frame: pd.DataFrame,
    name: str,
    kind: str,
    events: pd.DataFrame | None,
    items: pd.DataFrame | None,
) -> pd.Series:
    key = ["session_id", "query", "item_id"]
    if events is not None and name in events:
        ev = events[events["event"] == "impression"].copy()
        ev["query"] = ev["query"].fillna("").astype(str).str.strip() if "query" in ev else ""
        ev["session_id"] = ev["session_id"].fillna("").astype(str)
        ev = ev.sort_values("timestamp", kind="stable").drop_duplicates(key)[[*key, name]]
        values = frame[key].merge(ev, on=key, how="left")[name]
    elif items is not None and name in items:
        values = frame["item_id"].map(items.set_index("item_id")[name])
    else:
        where = [t for t, df in (("events", events), ("items", items)) if df is not None]
        raise ValueError(
            f"ranking.extra_features.{name}: no column {name!r} in the {' or '.join(where) or 'data'} "
            "table(s); declare only columns the events or items carry"
        )
    values = values.reset_index(drop=True)
    if kind == "numeric":
        numbers = pd.to_numeric(values, errors="coerce")
        bad = int(numbers.isna().sum() - values.isna().sum())
        if bad:
            raise ValueError(
                f"ranking.extra_features.{name} is declared numeric but {bad} values are not numbers"
            )
        return numbers
    return values.astype("object")


@dataclass
class ExtraFeatureEncoder:
    """Encodes config-declared extras: categorical -> training-vocabulary index (0 = unknown,
    also for missing values), numeric -> float with NaN replaced by the training mean (the
    model standardises with `means` and `stds`)."""

    kinds: dict[str, str]
    vocabularies: dict[str, Vocabulary] = field(default_factory=dict)
    means: dict[str, float] = field(default_factory=dict)
    stds: dict[str, float] = field(default_factory=dict)

    @classmethod
    def fit(cls, train: pd.DataFrame, kinds: dict[str, str]) -> ExtraFeatureEncoder:
        enc = cls(dict(kinds))
        for name, kind in kinds.items():
            if kind == "categorical":
                enc.vocabularies[name] = Vocabulary(train[name].dropna().astype(str))
            else:
                x = train[name].astype(np.float64)
                enc.means[name] = float(np.nan_to_num(x.mean()))
                enc.stds[name] = float(np.nan_to_num(x.std(), nan=1.0)) or 1.0
        return enc

    @property
    def numeric(self) -> list[str]:
        return [n for n, k in self.kinds.items() if k == "numeric"]

    @property
    def categorical_sizes(self) -> dict[str, int]:
        return {n: len(v) for n, v in self.vocabularies.items()}

    def transform(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        out = {}
        for name, kind in self.kinds.items():
            if kind == "categorical":
                values = frame[name].astype("object").where(frame[name].notna(), None)
                out[name] = self.vocabularies[name].lookup(values.tolist())
            else:
                out[name] = (
                    frame[name].astype(np.float64).fillna(self.means[name]).to_numpy(np.float32)
                )
        return out


def item_feature_arrays(data: PreparedData, item_idx: np.ndarray) -> dict[str, np.ndarray]:
    """Category levels, brand and price bucket of catalog rows."""
    c = data.catalog
    return {
        "category": c.category_idx[item_idx].astype(np.int64),
        "brand": c.brand_idx[item_idx].astype(np.int64),
        "price_bucket": c.price_bucket[item_idx].astype(np.int64),
    }


def history_features(
    data: PreparedData, history: np.ndarray, item_idx: np.ndarray
) -> dict[str, np.ndarray]:
    """User-item features from the user's history [n, L] (0 = padding) and the item [n]: the
    number of history items, the item's price bucket minus the history's mean (0 without a
    history or a price), and the shares of history items with the item's brand, leaf category
    and mid-level category (unknown brands and categories never match)."""
    c = data.catalog
    history = np.asarray(history, np.int64)
    item_idx = np.asarray(item_idx, np.int64)
    mask = history > 0
    count = mask.sum(axis=1)
    denom = np.maximum(count, 1).astype(np.float32)

    def share(hist_values: np.ndarray, item_values: np.ndarray) -> np.ndarray:
        same = (hist_values == item_values[:, None]) & mask & (item_values[:, None] > 0)
        return (same.sum(axis=1) / denom).astype(np.float32)

    prices = c.price_bucket[history]
    priced = mask & (prices > 0)
    mean_price = (prices * priced).sum(axis=1) / np.maximum(priced.sum(axis=1), 1)
    item_price = c.price_bucket[item_idx]
    gap = np.where(priced.any(axis=1) & (item_price > 0), item_price - mean_price, 0.0)
    return {
        "history_length": count.astype(np.float32),
        "history_price_gap": gap.astype(np.float32),
        "history_brand_share": share(c.brand_idx[history], c.brand_idx[item_idx]),
        "history_leaf_share": share(c.category_idx[history, 2], c.category_idx[item_idx, 2]),
        "history_mid_share": share(c.category_idx[history, 1], c.category_idx[item_idx, 1]),
    }
