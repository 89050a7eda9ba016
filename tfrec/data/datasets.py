"""Training and evaluation examples, leak-free splits and tf.data pipelines.

From the clean tables of the data contract (`ShopData`), `prepare_data` builds:

- vocabularies (items, users, categories per level, brands) and price buckets;
- retrieval examples: (query, user, history -> clicked/added/purchased item) for searches and
  (user, history -> next item) for the home feed;
- impression examples for ranking: one row per shown item with click / add_to_cart / purchase
  labels and the position;
- evaluation instances: one per held-out search (query and the set of items it led to) and one
  per held-out user (history up to the cutoff and the items the user went on to interact with).

Leak-freedom: a split assigns every event to train, val or test. Training examples come from
train only. Every example's features (the user's history) use only events strictly before the
example's own time, so nothing from a later period feeds a feature; held-out users (split by user)
and held-out queries (split by query) never appear in training examples.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tfrec.config import SplitConfig
from tfrec.data.schema import CATEGORY_SEPARATOR, EVENT_STRENGTH

PAD = 0  # index 0 of every vocabulary: padding / unknown
CATEGORY_LEVELS = 3
SPLITS = ("train", "val", "test")


class Vocabulary:
    """Maps string ids to dense indices; index 0 is reserved for padding and unknown ids."""

    def __init__(self, values: list[str] | np.ndarray | pd.Series):
        unique = pd.unique(pd.Series(values, dtype="object").dropna().astype(str))
        self.values: list[str] = ["[UNK]", *unique]
        self._index = {v: i for i, v in enumerate(self.values)}

    def __len__(self) -> int:
        return len(self.values)

    def lookup(self, ids) -> np.ndarray:
        index = self._index
        return np.fromiter((index.get(str(v), PAD) for v in ids), dtype=np.int64, count=len(ids))

    def __contains__(self, value: str) -> bool:
        return value in self._index


@dataclass
class Catalog:
    """The item side as arrays aligned with the item vocabulary (row 0 is the padding item)."""

    item_ids: list[str]
    texts: list[str]  # title + description, what the text tower reads
    titles: list[str]
    category_idx: np.ndarray  # [N, 3] one vocabulary per level, 0 = unknown
    brand_idx: np.ndarray  # [N]
    price_bucket: np.ndarray  # [N]
    created_at: np.ndarray  # datetime64[ns], NaT when unknown
    category_vocabs: list[Vocabulary]
    brand_vocab: Vocabulary
    price_boundaries: np.ndarray
    categories: list[str] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)
    prices: np.ndarray | None = None
    # config-declared extra features: categorical -> [N, C] indices (one vocabulary per column),
    # numeric -> [N, M] standardised values (missing = 0, the mean); text is appended to `texts`
    extra_categorical: np.ndarray | None = None
    extra_categorical_vocabs: list[Vocabulary] = field(default_factory=list)
    extra_numeric: np.ndarray | None = None
    extra_feature_names: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.item_ids)


@dataclass
class PreparedData:
    """Everything the models and the evaluation need, derived once from the clean tables."""

    catalog: Catalog
    item_vocab: Vocabulary
    user_vocab: Vocabulary  # users seen in training only; others map to 0 (unknown)
    queries: list[str]  # distinct query strings; index 0 = "" (no query, home feed)
    retrieval: pd.DataFrame  # one row per retrieval example, with a `split` column
    impressions: pd.DataFrame  # ranking examples, with a `split` column
    search_eval: dict[str, pd.DataFrame]  # split -> one row per held-out search
    feed_eval: dict[str, pd.DataFrame]  # split -> one row per held-out user
    cutoffs: dict[str, pd.Timestamp]  # val_start, test_start, end
    item_train_counts: np.ndarray  # [N] positives per item in training examples
    item_first_seen: np.ndarray  # [N] datetime64: first event of any kind (NaT: never)
    max_history: int

    @property
    def cold_items(self) -> np.ndarray:
        """Boolean [N]: items first seen (or launched) after the training cutoff."""
        cutoff = np.datetime64(self.cutoffs["val_start"])
        first = self.item_first_seen
        created = self.catalog.created_at
        late = (first >= cutoff) | np.isnat(first)
        late |= ~np.isnat(created) & (created >= cutoff)
        late[PAD] = False
        return late

    @property
    def sampling_probability(self) -> np.ndarray:
        """P(item is a positive in a training batch), for logQ correction; floored for unseen items."""
        counts = self.item_train_counts.astype(np.float64) + 1e-3
        counts[PAD] = 1e-3
        return counts / counts.sum()

    def summary(self) -> dict:
        r = self.retrieval
        out = {
            "items": len(self.catalog) - 1,
            "users_in_training": len(self.user_vocab) - 1,
            "distinct_queries": len(self.queries) - 1,
            "cutoffs": {k: str(v) for k, v in self.cutoffs.items()},
        }
        for split in SPLITS:
            part = r[r.split == split]
            out[f"{split}_examples"] = {
                "search": int((part.query_idx > 0).sum()),
                "feed": int((part.query_idx == 0).sum()),
                "impressions": int((self.impressions.split == split).sum()),
                "eval_searches": len(self.search_eval.get(split, ())),
                "eval_users": len(self.feed_eval.get(split, ())),
            }
        return out


# ------------------------------------------------------------------------------------------------
# Splits
# ------------------------------------------------------------------------------------------------


def _stable_fraction(values: pd.Series, salt: str) -> np.ndarray:
    """A deterministic number in [0, 1) per value (the same on every machine and run)."""
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values.astype(str)):
        h = hashlib.blake2b(f"{salt}:{v}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(h, "big") / 2**64
    return out


def time_cutoffs(timestamps: pd.Series, split: SplitConfig) -> dict[str, pd.Timestamp]:
    """Day-aligned cutoffs: the last `test_days` days are test, the `val_days` before are val."""
    if timestamps.empty:
        raise ValueError("no events: cannot split an empty event log by time")
    end = timestamps.max().normalize() + pd.Timedelta(days=1)
    test_start = end - pd.Timedelta(days=split.test_days)
    val_start = test_start - pd.Timedelta(days=split.val_days)
    if val_start <= timestamps.min():
        days = (end - timestamps.min().normalize()).days
        raise ValueError(
            f"the event log spans {days} days, too few for val_days={split.val_days} and "
            f"test_days={split.test_days} plus a training period"
        )
    return {"val_start": val_start, "test_start": test_start, "end": end}


def assign_splits(events: pd.DataFrame, split: SplitConfig) -> tuple[pd.Series, dict]:
    """The split of every event: `train`, `val`, `test`, or `excluded` (held out from training
    but outside the evaluated period, e.g. a held-out user's early events, which are still used
    as that user's history features)."""
    cut = time_cutoffs(events["timestamp"], split)
    ts = events["timestamp"]
    by_time = np.where(
        ts < cut["val_start"], "train", np.where(ts < cut["test_start"], "val", "test")
    )
    if split.by == "time":
        return pd.Series(by_time, index=events.index), cut
    key = events["user_id"] if split.by == "user" else events["query"].fillna("")
    held = pd.Series(_stable_fraction(key, split.by) < split.holdout_fraction, index=events.index)
    if split.by == "query":
        held &= events["query"].fillna("").str.len() > 0
    # held-out users / queries: evaluated in the val and test periods, never trained on;
    # the rest: trained on before val_start only, so the time cut holds as well.
    out = np.where(held, np.where(by_time == "train", "excluded", by_time), by_time)
    out = np.where(~held & (by_time != "train"), "excluded", out)
    return pd.Series(out, index=events.index), cut


# ------------------------------------------------------------------------------------------------
# Catalog and vocabularies
# ------------------------------------------------------------------------------------------------


def _split_category(path: str) -> list[str]:
    parts = [p.strip() for p in str(path).split(CATEGORY_SEPARATOR.strip()) if p.strip()]
    # each level is keyed by its full prefix so "Men > Shoes" and "Women > Shoes" differ
    return [
        CATEGORY_SEPARATOR.join(parts[: i + 1]) for i in range(min(len(parts), CATEGORY_LEVELS))
    ]


def _present(value) -> bool:
    return (
        value is not None
        and not (isinstance(value, float) and np.isnan(value))
        and str(value).strip() != ""
    )


def item_text(title: str, description: str | None, extras: dict[str, str] | None = None) -> str:
    """The text the item tower reads: title, then the description when there is one, then
    config-declared text features as `name: value`."""
    parts = [str(title).strip()]
    if _present(description):
        parts.append(str(description).strip())
    for name, value in (extras or {}).items():
        if _present(value):
            parts.append(f"{name}: {str(value).strip()}")
    return ". ".join(parts)


def _extra_features(items: pd.DataFrame, item_features: dict[str, str]) -> dict:
    """Declared extra item columns, encoded for the item tower."""
    missing = [c for c in item_features if c not in items]
    if missing:
        raise ValueError(
            f"data.item_features declares {missing} but the items table has no such column "
            f"(columns: {', '.join(items.columns)})"
        )
    cat_cols = [c for c, k in item_features.items() if k == "categorical"]
    num_cols = [c for c, k in item_features.items() if k == "numeric"]
    text_cols = [c for c, k in item_features.items() if k == "text"]
    n = len(items) + 1
    out: dict = {"names": {"categorical": cat_cols, "numeric": num_cols, "text": text_cols}}
    vocabs, cat = [], np.zeros((n, len(cat_cols)), dtype=np.int64)
    for j, col in enumerate(cat_cols):
        values = items[col].where(items[col].notna(), None)
        v = Vocabulary(values.dropna().astype(str))
        vocabs.append(v)
        cat[1:, j] = [v.lookup([x])[0] if x is not None else PAD for x in values]
    num = np.zeros((n, len(num_cols)), dtype=np.float32)
    for j, col in enumerate(num_cols):
        values = pd.to_numeric(items[col], errors="coerce")
        bad = values.isna() & items[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"numeric item feature {col!r} has non-numeric values, e.g. "
                f"{items[col].iloc[row]!r} for item {items['item_id'].iloc[row]!r}"
            )
        x = values.to_numpy(dtype=np.float64)
        mean, std = (
            np.nanmean(x) if (~np.isnan(x)).any() else 0.0,
            np.nanstd(x) if (~np.isnan(x)).any() else 1.0,
        )
        num[1:, j] = np.nan_to_num((x - mean) / (std or 1.0))
    out.update(categorical=cat, vocabs=vocabs, numeric=num)
    out["text"] = [{c: items[c].iloc[i] for c in text_cols} for i in range(len(items))]
    return out


def build_catalog(
    items: pd.DataFrame, price_buckets: int = 10, item_features: dict[str, str] | None = None
) -> tuple[Catalog, Vocabulary]:
    """Arrays for the item tower, aligned with the item vocabulary (row 0 = padding)."""
    if items.empty:
        raise ValueError("the catalog is empty: items has no rows")
    items = items.reset_index(drop=True)
    vocab = Vocabulary(items["item_id"])
    n = len(vocab)
    extras = _extra_features(items, item_features or {})
    descriptions = items["description"] if "description" in items else [None] * len(items)
    texts = [""] + [
        item_text(t, d, x) for t, d, x in zip(items["title"], descriptions, extras["text"])
    ]
    titles = [""] + items["title"].astype(str).tolist()

    cats = (
        items["category"].fillna("").astype(str)
        if "category" in items
        else pd.Series([""] * len(items))
    )
    levels = [_split_category(c) for c in cats]
    cat_vocabs = []
    cat_idx = np.zeros((n, CATEGORY_LEVELS), dtype=np.int64)
    for lvl in range(CATEGORY_LEVELS):
        col = [lv[lvl] if len(lv) > lvl else None for lv in levels]
        v = Vocabulary(pd.Series(col, dtype="object").dropna())
        cat_vocabs.append(v)
        cat_idx[1:, lvl] = [v.lookup([c])[0] if c is not None else PAD for c in col]

    brands = (
        items["brand"].fillna("").astype(str) if "brand" in items else pd.Series([""] * len(items))
    )
    brand_vocab = Vocabulary(brands[brands != ""])
    brand_idx = np.zeros(n, dtype=np.int64)
    brand_idx[1:] = brand_vocab.lookup(brands.tolist())

    price = (
        pd.to_numeric(items["price"], errors="coerce").to_numpy(dtype=np.float64)
        if "price" in items
        else np.full(len(items), np.nan)
    )
    known = price[~np.isnan(price)]
    if len(known):
        qs = np.quantile(np.log1p(known), np.linspace(0, 1, price_buckets + 1)[1:-1])
        boundaries = np.unique(qs)
    else:
        boundaries = np.array([], dtype=np.float64)
    bucket = np.zeros(n, dtype=np.int64)
    # bucket 0 = unknown price, 1..B = quantile buckets
    bucket[1:] = np.where(
        np.isnan(price), 0, np.searchsorted(boundaries, np.log1p(np.nan_to_num(price))) + 1
    )

    created = (
        pd.to_datetime(items["created_at"], errors="coerce").to_numpy(dtype="datetime64[ns]")
        if "created_at" in items
        else np.full(len(items), np.datetime64("NaT"), dtype="datetime64[ns]")
    )
    created = np.concatenate([[np.datetime64("NaT")], created]).astype("datetime64[ns]")
    catalog = Catalog(
        item_ids=vocab.values,
        texts=texts,
        titles=titles,
        category_idx=cat_idx,
        brand_idx=brand_idx,
        price_bucket=bucket,
        created_at=created,
        category_vocabs=cat_vocabs,
        brand_vocab=brand_vocab,
        price_boundaries=boundaries,
        categories=[""] + cats.tolist(),
        brands=[""] + brands.tolist(),
        prices=np.concatenate([[np.nan], price]),
        extra_categorical=extras["categorical"],
        extra_categorical_vocabs=extras["vocabs"],
        extra_numeric=extras["numeric"],
        extra_feature_names=extras["names"],
    )
    return catalog, vocab


# ------------------------------------------------------------------------------------------------
# Examples
# ------------------------------------------------------------------------------------------------


def _strength(events: pd.DataFrame) -> np.ndarray:
    return events["event"].map(EVENT_STRENGTH).fillna(1).to_numpy(dtype=np.int64)


def _histories(positives: pd.DataFrame, at: pd.DataFrame, max_history: int) -> np.ndarray:
    """For each row of `at` (user_idx, timestamp): the user's last `max_history` distinct positive
    items strictly before that time, most recent last, left-padded with 0."""
    out = np.zeros((len(at), max_history), dtype=np.int64)
    if at.empty:
        return out
    pos = positives.sort_values("timestamp", kind="stable")
    by_user = {
        u: (g["timestamp"].to_numpy(), g["item_idx"].to_numpy())
        for u, g in pos.groupby("user_id", sort=False)
    }
    users = at["user_id"].to_numpy()
    times = at["timestamp"].to_numpy()
    for row, (u, t) in enumerate(zip(users, times)):
        hist = by_user.get(u)
        if hist is None:
            continue
        ts, items = hist
        end = np.searchsorted(ts, t, side="left")  # strictly before t
        if end == 0:
            continue
        recent: list[int] = []
        seen = set()
        for item in items[max(0, end - 4 * max_history) : end][::-1]:
            if item not in seen:
                seen.add(item)
                recent.append(item)
                if len(recent) == max_history:
                    break
        recent.reverse()
        out[row, max_history - len(recent) :] = recent
    return out


def _query_column(events: pd.DataFrame) -> pd.Series:
    if "query" not in events:
        return pd.Series([""] * len(events), index=events.index, dtype="object")
    return events["query"].fillna("").astype(str).str.strip()


def prepare_data(
    items: pd.DataFrame,
    events: pd.DataFrame,
    split: SplitConfig,
    price_buckets: int = 10,
    item_features: dict[str, str] | None = None,
) -> PreparedData:
    """Build vocabularies, examples and evaluation instances from clean contract tables.
    `item_features` are the config-declared extra item columns (name -> categorical, numeric
    or text)."""
    catalog, item_vocab = build_catalog(items, price_buckets, item_features)
    ev = events.copy()
    ev["query"] = _query_column(ev)
    if "session_id" not in ev:
        ev["session_id"] = ev["user_id"].astype(str) + ":" + ev["timestamp"].dt.date.astype(str)
    ev["session_id"] = ev["session_id"].fillna("").astype(str)
    ev["item_idx"] = item_vocab.lookup(ev["item_id"].tolist())
    unknown = int((ev["item_idx"] == PAD).sum())
    if unknown:
        raise ValueError(f"{unknown} events point at items that are not in the catalog")
    ev["strength"] = _strength(ev)
    ev["split"], cutoffs = assign_splits(ev, split)

    positives = ev[ev["strength"] >= 1]
    # one retrieval example per (session, query, item): the strongest interaction, at its first time
    ex = (
        positives.sort_values(["strength", "timestamp"], ascending=[False, True], kind="stable")
        .drop_duplicates(["session_id", "query", "item_id"])
        .sort_values("timestamp", kind="stable")
        .reset_index(drop=True)
    )
    user_vocab = Vocabulary(ex.loc[ex.split == "train", "user_id"])
    queries = ["", *sorted(set(ex["query"]) - {""})]
    q_index = {q: i for i, q in enumerate(queries)}

    ex["user_idx"] = user_vocab.lookup(ex["user_id"].tolist())
    ex["query_idx"] = ex["query"].map(q_index).astype(np.int64)
    ex["history"] = list(_histories(positives, ex[["user_id", "timestamp"]], split.max_history))
    ex["weight"] = 1.0
    retrieval = ex[
        [
            "split",
            "timestamp",
            "session_id",
            "user_id",
            "user_idx",
            "query",
            "query_idx",
            "history",
            "item_id",
            "item_idx",
            "event",
            "strength",
            "weight",
        ]
    ]

    train = retrieval[retrieval.split == "train"]
    counts = np.bincount(train["item_idx"].to_numpy(), minlength=len(catalog))
    first_seen = np.full(len(catalog), np.datetime64("NaT"), dtype="datetime64[ns]")
    firsts = ev.groupby("item_idx")["timestamp"].min()
    first_seen[firsts.index.to_numpy()] = firsts.to_numpy(dtype="datetime64[ns]")

    impressions = _impression_examples(ev)
    search_eval = {s: _search_instances(retrieval, s) for s in ("val", "test")}
    feed_eval = {
        s: _feed_instances(ev, positives, s, cutoffs, split.max_history, user_vocab)
        for s in ("val", "test")
    }
    return PreparedData(
        catalog=catalog,
        item_vocab=item_vocab,
        user_vocab=user_vocab,
        queries=queries,
        retrieval=retrieval,
        impressions=impressions,
        search_eval=search_eval,
        feed_eval=feed_eval,
        cutoffs=cutoffs,
        item_train_counts=counts,
        item_first_seen=first_seen,
        max_history=split.max_history,
    )


def _search_instances(retrieval: pd.DataFrame, split: str) -> pd.DataFrame:
    """One instance per held-out search (session, query): the items it led to, graded by the
    strongest interaction (click 1, add_to_cart 2, purchase 3)."""
    part = retrieval[(retrieval.split == split) & (retrieval.query_idx > 0)]
    if part.empty:
        return pd.DataFrame(
            columns=[
                "session_id",
                "query",
                "query_idx",
                "user_id",
                "user_idx",
                "timestamp",
                "history",
                "positives",
                "gains",
            ]
        )
    rows = []
    for (session, query), g in part.groupby(["session_id", "query"], sort=False):
        first = g.iloc[0]
        rows.append(
            {
                "session_id": session,
                "query": query,
                "query_idx": int(first.query_idx),
                "user_id": first.user_id,
                "user_idx": int(first.user_idx),
                "timestamp": first.timestamp,
                "history": first.history,
                "positives": g["item_idx"].to_numpy(),
                "gains": g["strength"].to_numpy(dtype=np.float64),
            }
        )
    return pd.DataFrame(rows)


def _feed_instances(
    ev: pd.DataFrame,
    positives: pd.DataFrame,
    split: str,
    cutoffs: dict,
    max_history: int,
    user_vocab: Vocabulary,
) -> pd.DataFrame:
    """One instance per held-out user: history up to the start of the period, and the items the
    user interacted with during it (their next items)."""
    start = cutoffs["val_start"] if split == "val" else cutoffs["test_start"]
    part = positives[positives.split == split]
    cols = ["user_id", "user_idx", "timestamp", "history", "seen", "positives", "gains"]
    if part.empty:
        return pd.DataFrame(columns=cols)
    firsts = part.groupby("user_id", sort=False).agg(first=("timestamp", "min")).reset_index()
    at = pd.DataFrame({"user_id": firsts["user_id"], "timestamp": start})
    hist = _histories(positives, at, max_history)
    earlier = positives[positives.timestamp < start]
    seen_by_user = earlier.groupby("user_id")["item_idx"].agg(lambda s: np.unique(s.to_numpy()))
    rows = []
    grouped = dict(tuple(part.groupby("user_id", sort=False)))
    for i, user in enumerate(firsts["user_id"]):
        g = grouped[user]
        gains = g.groupby("item_idx")["strength"].max()
        rows.append(
            {
                "user_id": user,
                "user_idx": int(user_vocab.lookup([user])[0]),
                "timestamp": start,
                "history": hist[i],
                "seen": seen_by_user.get(user, np.zeros(0, dtype=np.int64)),
                "positives": gains.index.to_numpy(dtype=np.int64),
                "gains": gains.to_numpy(dtype=np.float64),
            }
        )
    return pd.DataFrame(rows, columns=cols)


def _impression_examples(ev: pd.DataFrame) -> pd.DataFrame:
    """One row per impression with the labels that followed in the same session and query."""
    imp = ev[ev["event"] == "impression"]
    cols = [
        "split",
        "timestamp",
        "session_id",
        "user_id",
        "query",
        "item_id",
        "item_idx",
        "position",
        "click",
        "add_to_cart",
        "purchase",
    ]
    if imp.empty:
        return pd.DataFrame(columns=cols)
    key = ["session_id", "query", "item_id"]
    imp = imp.sort_values("timestamp", kind="stable").drop_duplicates(key).copy()
    acts = ev[ev["event"].isin(["click", "add_to_cart", "purchase"])]
    for label in ("click", "add_to_cart", "purchase"):
        hit = acts.loc[acts["event"] == label, key].drop_duplicates()
        hit[label] = 1.0
        imp = imp.merge(hit, on=key, how="left")
        imp[label] = imp[label].fillna(0.0)
    # a purchase implies the click and add_to_cart that led to it
    imp["add_to_cart"] = np.maximum(imp["add_to_cart"], imp["purchase"])
    imp["click"] = np.maximum(imp["click"], imp["add_to_cart"])
    if "position" not in imp:
        imp["position"] = pd.NA
    return imp[cols].reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# tf.data
# ------------------------------------------------------------------------------------------------


def retrieval_features(data: PreparedData, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The feature arrays of retrieval examples (or evaluation instances) for the towers."""
    history = (
        np.stack(frame["history"].to_numpy())
        if len(frame)
        else np.zeros((0, data.max_history), dtype=np.int64)
    )
    query_idx = (
        frame["query_idx"].to_numpy(dtype=np.int64)
        if "query_idx" in frame
        else np.zeros(len(frame), np.int64)
    )
    return {
        "query": np.array([data.queries[i] for i in query_idx], dtype=object),
        "query_idx": query_idx,
        "user_idx": frame["user_idx"].to_numpy(dtype=np.int64),
        "history": history.astype(np.int64),
    }


def retrieval_dataset(
    data: PreparedData,
    split: str = "train",
    batch_size: int = 256,
    shuffle: bool = True,
    seed: int = 42,
    history_example_weight: float = 1.0,
    include_text: bool = True,
    tokenizer=None,
):
    """(query/user features, positive item) batches for `RetrievalModel.fit`, with the logQ
    sampling probability of each positive. `include_text=False` leaves the raw query strings
    out (frozen mode reads cached embeddings by `query_idx`; TPUs cannot take strings). With a
    `tokenizer` (a `BertTokenizerLayer`), queries are tokenized here, on the host, into
    `query_input_ids`, `query_attention_mask` and `query_token_type_ids`, and the strings are
    dropped: what a trained BERT on a TPU needs."""
    import tensorflow as tf

    frame = data.retrieval[data.retrieval.split == split]
    if frame.empty:
        raise ValueError(f"no retrieval examples in split {split!r}")
    feats = retrieval_features(data, frame)
    item_idx = frame["item_idx"].to_numpy(dtype=np.int64)
    weight = np.where(frame["query_idx"].to_numpy() > 0, 1.0, history_example_weight)
    feats.update(
        {
            "item_idx": item_idx,
            "sampling_probability": data.sampling_probability[item_idx].astype(np.float32),
            "weight": weight.astype(np.float32),
        }
    )
    if include_text:
        feats["query"] = feats["query"].astype(str)
    else:
        feats.pop("query")
    ds = tf.data.Dataset.from_tensor_slices(feats)
    if shuffle:
        ds = ds.shuffle(min(len(frame), 100_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=shuffle)
    if tokenizer is not None and include_text:

        def tokenize(batch):
            batch = dict(batch)
            tokens = tokenizer(batch.pop("query"))
            batch.update({f"query_{key}": value for key, value in tokens.items()})
            return batch

        ds = ds.map(tokenize, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def impression_dataset(data: PreparedData, split: str = "train", batch_size: int = 512):
    """(user, query, item, position) -> click / add_to_cart / purchase labels, for ranking."""
    import tensorflow as tf

    frame = data.impressions[data.impressions.split == split]
    if frame.empty:
        raise ValueError(f"no impression examples in split {split!r}")
    position = pd.to_numeric(frame["position"], errors="coerce")
    if position.isna().any():
        raise ValueError(
            f"{int(position.isna().sum())} impressions in split {split!r} have no position; "
            "ranking needs the position each item was shown at"
        )
    feats = {
        "query": frame["query"].astype(str).to_numpy(),
        "user_idx": data.user_vocab.lookup(frame["user_id"].tolist()),
        "item_idx": frame["item_idx"].to_numpy(dtype=np.int64),
        "position": position.to_numpy(dtype=np.int64),
    }
    labels = {k: frame[k].to_numpy(dtype=np.float32) for k in ("click", "add_to_cart", "purchase")}
    return tf.data.Dataset.from_tensor_slices((feats, labels)).batch(batch_size)
