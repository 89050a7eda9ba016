"""Tests for tfrec/data/synthetic/sessions.py: clicks, funnel, popularity, search share, taste."""

from __future__ import annotations

import pandas as pd

from tfrec.config import SyntheticConfig


def clicks_joined(ev: pd.DataFrame) -> pd.DataFrame:
    """Impressions with a 0/1 `clicked` column (same session, query, item and position)."""
    key = ["session_id", "item_id", "position"]
    imp = ev[ev["event"] == "impression"]
    clk = ev[ev["event"] == "click"][key].assign(clicked=1)
    return imp.merge(clk, on=key, how="left").fillna({"clicked": 0})


def test_ctr_falls_with_position(shop: dict[str, pd.DataFrame], small: SyntheticConfig) -> None:
    m = clicks_joined(shop["events"])
    ctr = m.groupby("position")["clicked"].mean()
    assert ctr[1] > ctr[3] > ctr[small.impressions_per_page]
    overall = m["clicked"].mean()
    assert 0.01 < overall < 0.12, overall


def test_funnel_rates_are_ordered_and_plausible(shop: dict[str, pd.DataFrame]) -> None:
    n = shop["events"]["event"].value_counts()
    assert n["impression"] > n["click"] > n["add_to_cart"] > n["purchase"] > 0
    assert 0.15 < n["add_to_cart"] / n["click"] < 0.45
    assert 0.25 < n["purchase"] / n["add_to_cart"] < 0.6


def test_follow_up_events_repeat_the_impression_context(shop: dict[str, pd.DataFrame]) -> None:
    ev = shop["events"]
    key = ["session_id", "item_id", "position"]
    imp = ev[ev["event"] == "impression"][[*key, "query", "timestamp"]]
    later = ev[ev["event"] != "impression"][[*key, "query", "timestamp"]].reset_index()
    m = later.merge(imp, on=key, how="left", suffixes=("", "_imp"))
    same_query = (m["query"] == m["query_imp"]) | (m["query"].isna() & m["query_imp"].isna())
    m["ok"] = same_query & (m["timestamp"] > m["timestamp_imp"])
    # every click, cart and purchase follows an impression of the same item, place and query
    assert m.groupby("index")["ok"].any().all()


def test_popularity_is_long_tailed(shop: dict[str, pd.DataFrame]) -> None:
    clicks = shop["events"].query("event == 'click'")["item_id"].value_counts()
    top = clicks.iloc[: len(shop["items"]) // 10].sum()
    assert top / clicks.sum() > 0.4


def test_search_share_and_browse_sessions(
    shop: dict[str, pd.DataFrame], small: SyntheticConfig
) -> None:
    ev = shop["events"]
    per_session = ev.groupby("session_id")["query"].apply(lambda q: q.notna().any())
    share = per_session.mean()
    assert abs(share - small.search_session_share) < 0.06
    assert (~per_session).sum() > 0  # browse sessions with no query


def test_clicks_follow_true_relevance_and_taste(shop: dict[str, pd.DataFrame]) -> None:
    ev, j = shop["events"], shop["judgments"]
    m = clicks_joined(ev[ev["query"].notna()]).merge(j, on=["query", "item_id"], how="left")
    by_rel = m.fillna({"relevance": 0}).groupby("relevance")["clicked"].mean()
    assert by_rel[3.0] > by_rel[2.0] > by_rel[0.0]
    # taste persists: a user's clicks in the first half predict the second half's categories
    items = shop["items"].set_index("item_id")["category"]
    clicks = ev[ev["event"] == "click"].assign(cat=lambda d: d["item_id"].map(items))
    mid = clicks["timestamp"].quantile(0.5)
    early, late = clicks[clicks["timestamp"] < mid], clicks[clicks["timestamp"] >= mid]
    top_cat = early.groupby("user_id")["cat"].agg(lambda c: c.value_counts().index[0])
    hit_history = late["cat"] == late["user_id"].map(top_cat)
    popular_cat = early["cat"].value_counts().index[0]
    assert hit_history.mean() > 2 * (late["cat"] == popular_cat).mean()
