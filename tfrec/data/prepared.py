"""The prepared data: training and evaluation examples from the clean tables, leak-free.

From the clean tables of the data contract (`tfrec.data.sources.ShopData`), `prepare_data`
builds:

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

`load_prepared` rebuilds a run's prepared data from its clean tables (fast and deterministic).
The item side is in `tfrec.data.catalog`, the splits in `tfrec.data.splits`, the tf.data
pipelines over the prepared data in `tfrec.data.datasets`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tfrec.config import Config, SplitConfig
from tfrec.core.rundir import RunDir
from tfrec.data.catalog import PAD, Catalog, Vocabulary, build_catalog
from tfrec.data.schema import EVENT_STRENGTH
from tfrec.data.splits import SPLITS, assign_splits


@dataclass
class PreparedData:
    """Everything the models and the evaluation need, derived once from the clean tables.

    Built by `prepare_data`; the fields are documented where they are declared.

    Example:
        >>> data = prepare_data(items, events, cfg.data.split)
        >>> data.summary()["train_examples"]["search"]
    """

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
    # split -> events in, rows removed per step with the reason, examples out (`_funnel`)
    funnel: dict = field(default_factory=dict)

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
    def new_items(self) -> np.ndarray:
        """Boolean [N]: items that are new to a model trained on the training split: no training
        positives, not launched and not seen (any event) before the training cutoff. Items with
        history before the cutoff but no positive are old items nobody chose, not new ones."""
        cutoff = np.datetime64(self.cutoffs["val_start"])
        created = self.catalog.created_at
        old = (self.item_train_counts > 0) | (self.item_first_seen < cutoff)
        old |= ~np.isnat(created) & (created < cutoff)
        new = ~old
        new[PAD] = False
        return new

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
        out["funnel"] = self.funnel
        return out


def _strength(events: pd.DataFrame) -> np.ndarray:
    return events["event"].map(EVENT_STRENGTH).fillna(1).to_numpy(dtype=np.int64)


def histories_before(positives: pd.DataFrame, at: pd.DataFrame, max_history: int) -> np.ndarray:
    """For each row of `at` (user_id, timestamp): the user's last `max_history` distinct positive
    items strictly before that time, most recent last, left-padded with 0.

    Args:
        positives: pd.DataFrame. Positive events with `user_id`, `timestamp` and `item_idx`.
        at: pd.DataFrame. `user_id` and `timestamp` of each row to build a history for.
        max_history: int. Items per history.

    Returns:
        int64 array `[len(at), max_history]` of item indices.

    Example:
        >>> histories_before(positives, examples[["user_id", "timestamp"]], 20)
    """
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

    Args:
        items: pd.DataFrame. The clean items table.
        events: pd.DataFrame. The clean events table.
        split: SplitConfig. How events are split (see `tfrec.data.splits.assign_splits`) and
            `max_history`.
        price_buckets: int. Quantile buckets of log price. Defaults to 10.
        item_features: dict[str, str] | None. The config-declared extra item columns
            (name -> categorical, numeric or text).

    Returns:
        PreparedData.

    Example:
        >>> data = prepare_data(items, events, SplitConfig(val_days=7, test_days=7))
    """
    catalog, item_vocab = build_catalog(items, price_buckets, item_features)
    ev = events.copy()
    ev["query"] = _query_column(ev)
    ev["session_id"], real_session = session_ids(ev)
    ev["item_idx"] = item_vocab.lookup(ev["item_id"].tolist())
    unknown = int((ev["item_idx"] == PAD).sum())
    if unknown:
        raise ValueError(f"{unknown} events point at items that are not in the catalog")
    ev["strength"] = _strength(ev)
    ev["split"], cutoffs = assign_splits(ev, split)

    positives = ev[ev["strength"] >= 1]
    # one retrieval example per (session, query, item) of a real session: the strongest
    # interaction, at its first time. Without a session id nothing says two events belong to one
    # visit, so only events of the same user, query, item and time merge.
    strongest_first = positives.sort_values(
        ["strength", "timestamp"], ascending=[False, True], kind="stable"
    )
    in_session = real_session.loc[strongest_first.index].to_numpy()
    ex = (
        pd.concat(
            [
                strongest_first[in_session].drop_duplicates(["session_id", "query", "item_id"]),
                strongest_first[~in_session].drop_duplicates(
                    ["user_id", "query", "item_id", "timestamp"]
                ),
            ]
        )
        .sort_values("timestamp", kind="stable")
        .reset_index(drop=True)
    )
    funnel = _funnel(ev, positives, ex, real_session)
    user_vocab = Vocabulary(ex.loc[ex.split == "train", "user_id"])
    queries = ["", *sorted(set(ex["query"]) - {""})]
    q_index = {q: i for i, q in enumerate(queries)}

    ex["user_idx"] = user_vocab.lookup(ex["user_id"].tolist())
    ex["query_idx"] = ex["query"].map(q_index).astype(np.int64)
    ex["history"] = list(
        histories_before(positives, ex[["user_id", "timestamp"]], split.max_history)
    )
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
        funnel=funnel,
    )


def session_ids(events: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The session of every event, and whether it is a real one.

    An event with a session id keeps it; one without (no `session_id` column, or an empty or
    missing value) falls back, per row, to its user and day (`user:YYYY-MM-DD`), so that logs
    without sessions still group a day's events for session intent and held-out searches.

    Args:
        events: pd.DataFrame with `user_id`, `timestamp` and optionally `session_id`.

    Returns:
        (session ids as str, boolean Series: True where the log gave a session id).

    Example:
        >>> ev = pd.DataFrame({"user_id": ["u", "u"], "session_id": ["s1", ""],
        ...     "timestamp": pd.to_datetime(["2024-05-01 10:00", "2024-05-02 09:00"])})
        >>> ids, real = session_ids(ev)
        >>> ids.tolist(), real.tolist()
        (['s1', 'u:2024-05-02'], [True, False])
    """
    fallback = events["user_id"].astype(str) + ":" + events["timestamp"].dt.date.astype(str)
    if "session_id" not in events:
        return fallback, pd.Series(False, index=events.index)
    given = events["session_id"]
    real = given.notna() & (given.astype(str).str.strip() != "")
    return given.astype(str).where(real, fallback), real


def _funnel(
    ev: pd.DataFrame, positives: pd.DataFrame, examples: pd.DataFrame, real: pd.Series
) -> dict[str, dict]:
    """Per split: events in, what each step removed (and why), retrieval examples out."""
    out = {}
    for split in SPLITS:
        n_events = int((ev["split"] == split).sum())
        n_pos = int((positives["split"] == split).sum())
        n_ex = int((examples["split"] == split).sum())
        part = positives[positives["split"] == split]
        in_session = int(real.loc[part.index].sum())
        out[split] = {
            "events": n_events,
            "examples": n_ex,
            "sessions_from_log": in_session,
            "sessions_filled_by_user_day": len(part) - in_session,
            "removed": {
                "not an interaction (impression or other event without strength; kept as "
                "ranking examples)": n_events - n_pos,
                "repeat of the same item in the same session and query (the strongest "
                "interaction is kept)": n_pos - n_ex,
            },
        }
    return out


def funnel_lines(funnel: dict[str, dict], threshold: float = 0.01) -> list[str]:
    """One line per split (events in -> examples out) and one per step that removed more than
    `threshold` of that split's events, with its count and reason.

    Args:
        funnel: `PreparedData.funnel`.
        threshold: share of the split's events above which a step is named.

    Example:
        >>> funnel_lines(data.funnel)[0]  # doctest: +SKIP
        'train: 60,114 events -> 21,733 retrieval examples (...)'
    """
    lines = []
    for split, f in funnel.items():
        filled = f["sessions_filled_by_user_day"]
        note = f"; {filled:,} interactions had no session id (user + day used)" if filled else ""
        lines.append(
            f"{split}: {f['events']:,} events -> {f['examples']:,} retrieval examples{note}"
        )
        for why, n in f["removed"].items():
            if f["events"] and n > threshold * f["events"]:
                lines.append(f"  {split}: {n:,} ({n / f['events']:.1%}) removed: {why}")
    return lines


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
    hist = histories_before(positives, at, max_history)
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


def load_prepared(cfg: Config, run: RunDir) -> PreparedData:
    """`prepare_data` over the run's `data/clean` items and events.

    Args:
        cfg: the run's config (`data.split`, `retrieval.price_buckets`, `data.item_features`).
        run: the run directory the data stage wrote.

    Example:
        >>> data = load_prepared(cfg, RunDir(cfg.run_path))  # doctest: +SKIP
    """
    items_path = run.clean_table("items")
    if not items_path.exists():
        raise FileNotFoundError(
            f"{items_path} does not exist: run the data stage first (`tfrec run CONFIG --stages data`)"
        )
    items = pd.read_parquet(items_path)
    events = pd.read_parquet(run.clean_table("events"))
    return prepare_data(
        items, events, cfg.data.split, cfg.retrieval.price_buckets, cfg.data.item_features
    )


def read_clean_table(
    run: RunDir, name: str, columns: list[str] | None = None
) -> pd.DataFrame | None:
    """One clean contract table of the run (None when the run has none of it)."""
    path = run.clean_table(name)
    if not path.exists():
        return None
    return pd.read_parquet(path, columns=columns)
