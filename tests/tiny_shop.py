"""A tiny hand-rolled shop for unit tests (no generator, no BERT)."""

import numpy as np
import pandas as pd


def make_shop(seed=0, days=30, users=40, items=60):
    rng = np.random.default_rng(seed)
    item_ids = [f"i{i}" for i in range(items)]
    cats = ["A > B > C", "A > B > D", "E > F > G"]
    items_df = pd.DataFrame(
        {
            "item_id": item_ids,
            "title": [f"item number {i}" for i in range(items)],
            "category": [cats[i % 3] for i in range(items)],
            "brand": [f"brand{i % 5}" for i in range(items)],
            "price": rng.uniform(1, 100, items),
        }
    )
    rows = []
    start = pd.Timestamp("2026-01-01")
    for s in range(users * 6):
        user = f"u{rng.integers(users)}"
        t = start + pd.Timedelta(minutes=int(rng.integers(days * 24 * 60)))
        query = rng.choice(
            ["red shoes", "frying pan", "mug", "tent", "lamp", "sofa", "kettle", "", ""]
        )
        for pos in range(1, 4):
            item = item_ids[rng.integers(items)]
            rows.append((user, item, "impression", t, query, pos, f"s{s}"))
            if rng.random() < 0.4:
                rows.append((user, item, "click", t + pd.Timedelta(seconds=5), query, pos, f"s{s}"))
    events = pd.DataFrame(
        rows,
        columns=["user_id", "item_id", "event", "timestamp", "query", "position", "session_id"],
    )
    return items_df, events


def make_shop_with_new_items(items=80, new_from=60, days=10):
    """`make_shop` where items `new_from`.. are first seen in the last `days` days (the held-out
    periods of `SplitConfig(test_days=5, val_days=5)`): new and cold items."""
    items_df, events = make_shop(items=items)
    late = events["item_id"].isin([f"i{i}" for i in range(new_from, items)])
    cutoff = events["timestamp"].max() - pd.Timedelta(days=days)
    return items_df, events[~late | (events["timestamp"] >= cutoff)].reset_index(drop=True)
