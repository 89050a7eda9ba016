"""Dense scoring through an item index (`tfrec.shop.retrieve`): without one the whole catalog
is scored (the small shops keep today's results); with one, only the index's top candidates
and the unindexed rows are scored exactly, and on a 50k-item catalog /search's top-10 equals
the exact top-10 for most queries; /similar scores an item's index neighbours and
/complementary the best items before the substitute test."""

from __future__ import annotations

import numpy as np
import pytest

from tfrec.config import IndexConfig
from tfrec.index.exact import synthetic_queries
from tfrec.index.scann_index import ItemIndex
from tfrec.shop.complementary import complementary_items, complementary_scores
from tfrec.shop.context import ShopContext
from tfrec.shop.cooccurrence import CoCounts
from tfrec.shop.feed import home_feed, search
from tfrec.shop.retrieve import dense_scores, uses_index
from tfrec.shop.similar import similar_items, similarity_candidates


def big_context(n: int, dim: int = 32, seed: int = 0) -> ShopContext:
    """`n` items (row 0 padding) with random unit embeddings; the query encoder looks each
    query string up in `ctx.query_vectors`."""
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, dim)).astype("float32")
    ctx = ShopContext(
        item_ids=["[UNK]", *[f"p{i}" for i in range(1, n)]],
        titles=[f"product {i}" for i in range(n)],
        categories=[""] * n,
        brands=[""] * n,
        prices=np.full(n, np.nan),
        category_idx=np.zeros((n, 3), np.int64),
        brand_idx=np.zeros(n, np.int64),
        price_bucket=np.zeros(n, np.int64),
        item_embeddings=emb,
        text_embeddings=None,
        popularity=np.zeros(n),
        coview=CoCounts.empty(n),
        copurchase=CoCounts.empty(n),
        max_history=4,
    )
    ctx.query_vectors = {}
    ctx.query_encoder = lambda queries, user_idx, history: np.stack(
        [ctx.query_vectors[q] for q in queries]
    )
    return ctx


class CountingIndex:
    """A `CandidateSearch` over an `ItemIndex` of rows 1..N-1, counting its calls."""

    def __init__(self, index: ItemIndex):
        self.index, self.calls = index, []

    def __call__(self, embeddings, n):
        self.calls.append(n)
        positions, _ = self.index.search_positions(embeddings, n)
        return positions + 1  # index position p is context row p + 1


@pytest.fixture(scope="module")
def indexed():
    ctx = big_context(50_001)
    cfg = IndexConfig(brute_force_below=1000, target_recall=0.95, eval_queries=200)
    index = ItemIndex.build(ctx.item_embeddings[1:], ctx.item_ids[1:], cfg)
    assert index.params.mode == "scann"
    return ctx, CountingIndex(index)


def test_without_an_index_every_item_is_scored(ctx):
    emb = ctx.item_embeddings[1]
    assert not uses_index(ctx, 3)
    np.testing.assert_array_equal(dense_scores(ctx, emb, 3), ctx.item_embeddings @ emb)


def test_index_candidates_and_unindexed_rows_are_scored_exactly(ctx):
    ctx.candidate_search = lambda embeddings, n: np.array([[2, 3, 0][:n]])
    ctx.unindexed_rows = np.array([7])
    emb = ctx.item_embeddings[1]
    assert uses_index(ctx, 2) and not uses_index(ctx, ctx.num_items - 1)
    scores = dense_scores(ctx, emb, 2)
    exact = ctx.item_embeddings @ emb
    assert np.isfinite(scores).sum() == 3
    np.testing.assert_array_equal(scores[[2, 3, 7]], exact[[2, 3, 7]])
    assert np.isneginf(scores[[0, 1, 4, 5, 6]]).all()
    # a depth that covers the catalog is the matmul
    np.testing.assert_array_equal(dense_scores(ctx, emb, ctx.num_items), exact)


def test_50k_catalog_search_takes_index_candidates_and_matches_exact(indexed):
    ctx, counting = indexed
    queries = synthetic_queries(ctx.item_embeddings[1:], 200, seed=7)
    ctx.query_vectors = {f"q{i}": q for i, q in enumerate(queries)}
    same, hits = 0, 0
    for i in range(len(queries)):
        ctx.candidate_search = None
        exact = [x["item_id"] for x in search(ctx, f"q{i}", k=10)["items"]]
        ctx.candidate_search = counting
        got = search(ctx, f"q{i}", k=10, index_candidates=200)
        ids = [x["item_id"] for x in got["items"]]
        same += ids == exact
        hits += len(set(ids) & set(exact))
        # the scores are exact dot products, whatever the index's own (AH) scores were
        rows = [ctx.item_index(x) for x in ids]
        q = ctx.query_vectors[f"q{i}"] / np.linalg.norm(ctx.query_vectors[f"q{i}"])
        want = np.round(ctx.item_embeddings[rows] @ q, 5)
        np.testing.assert_allclose([x["score"] for x in got["items"]], want, atol=2e-5)
    assert counting.calls == [200] * len(queries)
    recall = hits / (10 * len(queries))
    print(
        f"50k items: top-10 recall of the candidate path vs exact {recall:.4f}, "
        f"identical lists {same}/{len(queries)}"
    )
    assert recall >= 0.9 and same >= 0.5 * len(queries)


def test_50k_feed_asks_for_the_excluded_items_too(indexed):
    ctx, counting = indexed
    ctx.candidate_search = counting
    ctx.query_vectors = {"": ctx.item_embeddings[5]}
    counting.calls.clear()
    ctx.user_index, ctx.user_histories = {"u": 1}, {"u": np.array([5])}
    ctx.user_seen = {"u": np.arange(1, 301)}
    feed = home_feed(ctx, "u", k=10, index_candidates=200)
    assert counting.calls == [310]  # k + 300 seen items > index_candidates
    rows = [ctx.item_index(x["item_id"]) for x in feed["items"]]
    assert len(rows) == 10 and min(rows) > 300


def test_50k_similar_scores_the_index_neighbours_exactly(indexed):
    """/similar in a catalog served through an index: the item's index neighbours (and its
    co-viewed items) are scored with the exact per-dimension scores of the full path."""
    ctx, counting = indexed
    hits = 0
    anchors = [f"p{i}" for i in range(1, 2001, 100)]
    ctx.candidate_search = None
    exact_first = similar_items(ctx, anchors[0], k=10, weights={"semantic": 1.0})
    for anchor in anchors:
        ctx.candidate_search = None
        exact = similar_items(ctx, anchor, k=10, weights={"semantic": 1.0})
        ctx.candidate_search = counting
        counting.calls.clear()
        got = similar_items(ctx, anchor, k=10, weights={"semantic": 1.0}, index_candidates=200)
        assert counting.calls == [200]
        want = {x["item_id"]: x["score"] for x in exact["items"]}
        hits += len(set(want) & {x["item_id"] for x in got["items"]})
        for x in got["items"]:
            if x["item_id"] in want:
                assert x["score"] == want[x["item_id"]]
    # index_candidates=0 asks for every item, index attached or not
    counting.calls.clear()
    assert similar_items(ctx, anchors[0], k=10, weights={"semantic": 1.0}) == exact_first
    assert counting.calls == []
    ctx.candidate_search = None
    recall = hits / (10 * len(anchors))
    print(f"50k items: /similar top-10 recall of the index candidates vs every item {recall:.3f}")
    assert recall >= 0.9


def test_similar_and_complementary_without_an_index_score_every_item(ctx):
    full = similar_items(ctx, "i1", k=5)
    assert similarity_candidates(ctx, 1, 200) is None
    assert similar_items(ctx, "i1", k=5, index_candidates=200) == full
    assert complementary_items(ctx, "i1", k=3, index_candidates=2) == complementary_items(
        ctx, "i1", k=3
    )


def test_complementary_with_an_index_scores_only_the_best_and_keeps_their_order(ctx):
    ctx.candidate_search = lambda embeddings, n: np.array([[1, 2, 3][:n]])
    full, _ = complementary_scores(ctx, [1])
    top, _ = complementary_scores(ctx, [1], top=4)
    kept = np.isfinite(top)
    assert kept.sum() <= 4
    np.testing.assert_array_equal(top[kept], full[kept])
    order = np.argsort(-full, kind="stable")[: kept.sum()]
    assert set(order[np.isfinite(full[order])]) <= set(np.flatnonzero(kept)) | {1}
    # the request path: the same items as scoring every item
    with_index = complementary_items(ctx, "i1", k=2, index_candidates=4)
    ctx.candidate_search = None
    assert [x["item_id"] for x in with_index["items"]] == [
        x["item_id"] for x in complementary_items(ctx, "i1", k=2)["items"]
    ]
