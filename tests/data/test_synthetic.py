"""Tests for the synthetic shop (tfrec/data/synthetic.py): contract, determinism, behaviour."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfrec.config import SyntheticConfig
from tfrec.data.schema import CATEGORY_SEPARATOR, EVENTS, ITEMS, JUDGMENTS, USERS
from tfrec.data.synthetic import (
    TAXONOMY_LEAVES,
    WINDOW_END,
    generate_shop,
    generation_benchmark,
    summarize_shop,
)

SMALL = SyntheticConfig(num_items=1000, num_users=300, seed=7)


def _read_all(paths: dict[str, Path]) -> dict[str, pd.DataFrame]:
    out = {}
    for name, p in paths.items():
        if p.suffix == ".parquet":
            out[name] = pd.read_parquet(p)
        elif p.suffix == ".csv":
            out[name] = pd.read_csv(p, dtype={"item_id": str, "user_id": str, "query": str})
        else:
            out[name] = pd.read_json(p, lines=True, dtype={"item_id": str, "user_id": str})
    return out


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    paths = generate_shop(SMALL, tmp_path_factory.mktemp("shop"), progress=False)
    return _read_all(paths)


def _clicks_joined(ev: pd.DataFrame) -> pd.DataFrame:
    """Impressions with a 0/1 `clicked` column (same session, query, item and position)."""
    key = ["session_id", "item_id", "position"]
    imp = ev[ev["event"] == "impression"]
    clk = ev[ev["event"] == "click"][key].assign(clicked=1)
    return imp.merge(clk, on=key, how="left").fillna({"clicked": 0})


def test_files_and_columns_follow_the_contract(tmp_path: Path) -> None:
    paths = generate_shop(SMALL, tmp_path, progress=False)
    assert set(paths) == {"items", "events", "judgments", "users"}
    assert all(p.name == f"{name}.parquet" and p.exists() for name, p in paths.items())
    frames = _read_all(paths)
    assert list(frames["items"].columns) == ITEMS.names
    assert list(frames["events"].columns) == EVENTS.names
    assert list(frames["judgments"].columns) == JUDGMENTS.names
    assert frames["users"].columns[0] == USERS.names[0]
    items, ev, users = frames["items"], frames["events"], frames["users"]
    assert len(items) == 1000 and items["item_id"].is_unique
    assert len(users) == 300 and users["user_id"].is_unique
    assert (items["title"].str.len() > 10).all()
    assert (items["price"] > 0).all()
    assert pd.api.types.is_datetime64_ns_dtype(ev["timestamp"])
    assert pd.api.types.is_datetime64_ns_dtype(items["created_at"])
    assert set(ev["event"]) == {"impression", "click", "add_to_cart", "purchase"}
    assert set(ev["item_id"]) <= set(items["item_id"])
    assert set(ev["user_id"]) <= set(users["user_id"])
    assert ev["position"].between(1, SMALL.impressions_per_page).all()
    assert ev["session_id"].notna().all()
    purchases = ev[ev["event"] == "purchase"]
    assert (purchases["quantity"] >= 1).all()
    assert ev.loc[ev["event"] != "purchase", "quantity"].isna().all()
    # every category is a three-level path of the taxonomy
    assert set(items["category"]) <= {lf.category for lf in TAXONOMY_LEAVES}
    assert (items["category"].str.count(CATEGORY_SEPARATOR) == 2).all()


def test_taxonomy_is_rich_and_query_words_are_unambiguous() -> None:
    assert len({lf.path[0] for lf in TAXONOMY_LEAVES}) >= 8
    assert len(TAXONOMY_LEAVES) >= 40
    owner: dict[str, str] = {}
    for lf in TAXONOMY_LEAVES:
        words = {lf.name.lower(), *(n.lower() for n in lf.nouns), *lf.synonyms}
        for w in words:
            assert owner.setdefault(w, lf.name) == lf.name, f"{w!r} names {owner[w]} and {lf.name}"


def test_titles_read_like_products(shop: dict[str, pd.DataFrame]) -> None:
    items = shop["items"]
    shoes = items[items["category"].str.endswith("Running Shoes")]
    assert len(shoes) > 0
    title = shoes["title"].iloc[0]
    assert any(b in title for b in shoes["brand"])
    assert ("Men's" in title) or ("Women's" in title)
    assert "Size " in title
    # prices follow the category: laptops cost more than phone cases
    median = items.groupby(items["category"].str.split(" > ").str[-1])["price"].median()
    assert median["Laptops"] > 10 * median["Phone Cases"]


def test_same_seed_same_bytes_and_other_seed_other_data(tmp_path: Path) -> None:
    cfg = dataclasses.replace(SMALL, num_items=300, num_users=60)
    a = generate_shop(cfg, tmp_path / "a", progress=False)
    b = generate_shop(cfg, tmp_path / "b", progress=False)
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name
    c = generate_shop(dataclasses.replace(cfg, seed=cfg.seed + 1), tmp_path / "c", progress=False)
    assert not pd.read_parquet(a["events"]).equals(pd.read_parquet(c["events"]))
    assert not pd.read_parquet(a["items"]).equals(pd.read_parquet(c["items"]))


def test_chunked_run_gives_the_same_content(tmp_path: Path) -> None:
    cfg = dataclasses.replace(SMALL, num_items=400, num_users=120)
    whole = _read_all(generate_shop(cfg, tmp_path / "whole", progress=False))
    chunked = _read_all(
        generate_shop(dataclasses.replace(cfg, chunk_rows=1000), tmp_path / "c", progress=False)
    )
    assert len(whole["events"]) > 3 * 1000  # several chunks were written
    for name in whole:
        pd.testing.assert_frame_equal(whole[name], chunked[name], check_dtype=True)


def test_ctr_falls_with_position(shop: dict[str, pd.DataFrame]) -> None:
    m = _clicks_joined(shop["events"])
    ctr = m.groupby("position")["clicked"].mean()
    assert ctr[1] > ctr[3] > ctr[SMALL.impressions_per_page]
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


def test_search_share_and_browse_sessions(shop: dict[str, pd.DataFrame]) -> None:
    ev = shop["events"]
    per_session = ev.groupby("session_id")["query"].apply(lambda q: q.notna().any())
    share = per_session.mean()
    assert abs(share - SMALL.search_session_share) < 0.06
    assert (~per_session).sum() > 0  # browse sessions with no query


def test_late_items_are_never_seen_before_launch(shop: dict[str, pd.DataFrame]) -> None:
    items, ev = shop["items"], shop["events"]
    cut = pd.Timestamp(str(WINDOW_END)) - pd.Timedelta(days=11)
    late = items[items["created_at"] >= cut]
    assert 0.03 * len(items) < len(late) < 0.15 * len(items)
    m = ev.merge(items[["item_id", "created_at"]], on="item_id")
    assert (m["timestamp"] >= m["created_at"]).all()
    assert m["item_id"].isin(late["item_id"]).any()  # late items do get traffic after launch


def test_queries_use_synonyms_and_typos_with_judged_relevant_items(
    shop: dict[str, pd.DataFrame],
) -> None:
    items, ev, j = shop["items"], shop["events"], shop["judgments"]
    queries = ev["query"].dropna().unique()
    leaf_of = items.set_index("item_id")["category"].str.split(" > ").str[-1]
    rel = j[j["relevance"] >= 2].assign(leaf=lambda d: d["item_id"].map(leaf_of))
    # a query is "non-lexical" when no word of its relevant items' leaf name appears in it
    lexical_miss = 0
    for q, leaf in rel.drop_duplicates("query")[["query", "leaf"]].itertuples(index=False):
        words = {w.lower().rstrip("s") for w in leaf.split()}
        if not any(w.rstrip("s") in words for w in q.split()):
            lexical_miss += 1
    assert lexical_miss > 0.15 * len(queries)
    assert any(q in ("sneakers", "trainers", "earbuds", "earphones", "skillet") for q in queries)
    # typos: queries with a word that appears in no title, no synonym and no attribute value
    vocab = set(" ".join(items["title"]).lower().replace(",", " ").split())
    for lf in TAXONOMY_LEAVES:
        vocab |= {w for s in lf.synonyms for w in s.split()} | set(lf.name.lower().split())
    odd = [q for q in queries if any(w.isalpha() and w not in vocab for w in q.split())]
    assert len(odd) > 0.03 * len(queries)
    # head queries repeat, tail queries are long
    counts = ev.drop_duplicates(["session_id", "query"])["query"].value_counts()
    assert counts.iloc[0] >= 5
    assert counts.index.str.split().str.len().max() >= 4


def test_judgments_cover_issued_queries(shop: dict[str, pd.DataFrame]) -> None:
    ev, j = shop["events"], shop["judgments"]
    issued = set(ev["query"].dropna())
    assert set(j["query"]) == issued
    assert j["relevance"].isin([1.0, 2.0, 3.0]).all()
    assert j.groupby("query").size().max() <= 100
    assert not j.duplicated(["query", "item_id"]).any()
    assert (j.groupby("query")["relevance"].max() >= 2).mean() > 0.95


def test_clicks_follow_true_relevance_and_taste(shop: dict[str, pd.DataFrame]) -> None:
    ev, j = shop["events"], shop["judgments"]
    m = _clicks_joined(ev[ev["query"].notna()]).merge(j, on=["query", "item_id"], how="left")
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


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_formats_are_written_and_readable(tmp_path: Path, fmt: str) -> None:
    cfg = dataclasses.replace(SMALL, num_items=200, num_users=40, format=fmt)
    paths = generate_shop(cfg, tmp_path / fmt, progress=False)
    assert all(p.suffix == f".{fmt}" for p in paths.values())
    frames = _read_all(paths)
    ref = _read_all(
        generate_shop(dataclasses.replace(cfg, format="parquet"), tmp_path / "pq", progress=False)
    )
    for name in frames:
        assert list(frames[name].columns) == list(ref[name].columns)
        assert len(frames[name]) == len(ref[name])
    ev, ref_ev = frames["events"], ref["events"]
    raw = pd.read_csv(paths["events"], dtype=str) if fmt == "csv" else None
    if raw is None:
        raw = pd.read_json(paths["events"], lines=True, dtype=str, convert_dates=False)
    assert raw["timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").all()
    assert (pd.to_datetime(ev["timestamp"]).to_numpy() == ref_ev["timestamp"].to_numpy()).all()
    assert (ev["item_id"].astype(str) == ref_ev["item_id"]).all()
    assert ev["query"].isna().sum() == ref_ev["query"].isna().sum()
    assert np.allclose(frames["items"]["price"], ref["items"]["price"])


def test_bad_format_is_named(tmp_path: Path) -> None:
    cfg = dataclasses.replace(SMALL, num_items=100, num_users=20, format="xlsx")
    with pytest.raises(ValueError, match="xlsx"):
        generate_shop(cfg, tmp_path, progress=False)


def test_benchmark_and_summary(tmp_path: Path) -> None:
    r = generation_benchmark(200, 30, tmp_path / "b")
    assert r["seconds"] > 0 and r["peak_rss_mb"] > 0
    assert r["rows"]["items"] == 200 and r["rows"]["users"] == 30
    assert r["rows"]["events"] > 30 * 10
    paths = {n: tmp_path / "b" / f"{n}.parquet" for n in ("items", "events", "judgments", "users")}
    s = summarize_shop(paths)
    assert s["rows"] == r["rows"]
    assert s["ctr_by_position"][1] > 0
