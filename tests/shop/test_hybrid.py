"""Hybrid retrieval: reciprocal-rank fusion by hand, weight 0 = the dense order, 1 = the BM25
order, and the shop's search with retriever=hybrid (incl. items added after the index)."""

import numpy as np
import pytest

from tfrec.core.topk import top_k
from tfrec.shop.cold_start import add_items_to_context
from tfrec.shop.feed import search
from tfrec.shop.hybrid import (
    RRF_K,
    check_retriever,
    hybrid_scores,
    ranked_candidates,
    rrf,
)


def test_rrf_by_hand():
    rows, scores = rrf([np.array([[1, 2, 3]]), np.array([[3, 4]])], [0.5, 0.5])
    # 3: 0.5/63 + 0.5/61; 1: 0.5/61; 2 and 4: 0.5/62 each (a tie: the lower row first)
    assert rows.tolist() == [[3, 1, 2, 4]]
    want = [0.5 / 63 + 0.5 / 61, 0.5 / 61, 0.5 / 62, 0.5 / 62]
    np.testing.assert_allclose(scores[0], want, rtol=1e-12)


def test_rrf_weights_the_lists_and_skips_padding():
    rows, scores = rrf(
        [np.array([[1, 2], [0, 0]]), np.array([[2, 0], [5, 0]])], [0.2, 0.8], k=RRF_K
    )
    assert rows.tolist() == [[2, 1], [5, 0]]  # row 0 pads the shorter query's list
    np.testing.assert_allclose(scores[0], [0.2 / 62 + 0.8 / 61, 0.2 / 61])
    np.testing.assert_allclose(scores[1], [0.8 / 61, 0.0])
    # a zero weight brings nothing: its items are not candidates
    rows, _ = rrf([np.array([[1, 2]]), np.array([[3, 4]])], [1.0, 0.0])
    assert rows.tolist() == [[1, 2]]
    rows, scores = rrf([np.zeros((2, 3), np.int64)], [1.0])
    assert rows.shape == (2, 0) and scores.shape == (2, 0)


def test_ranked_candidates_keeps_only_matches_when_asked():
    s = np.array([[0.0, 0.2, 0.0, 0.9, 0.0]])
    assert ranked_candidates(s, 3).tolist() == [[3, 1, 2]]
    assert ranked_candidates(s, 3, matched_only=True).tolist() == [[3, 1, 0]]
    assert ranked_candidates(s[0], 2).tolist() == [3, 1]  # one row in, one row out


def test_weight_zero_is_the_dense_order_and_one_the_lexical_order():
    rng = np.random.default_rng(0)
    dense = rng.normal(size=(5, 300))
    lexical = np.where(rng.random((5, 300)) < 0.2, rng.random((5, 300)), 0.0)
    depth = 50
    fused = hybrid_scores(dense, lexical, 0.0, depth)
    np.testing.assert_array_equal(
        top_k(fused, depth, exclude_all=[0]), top_k(dense, depth, exclude_all=[0])
    )
    fused = hybrid_scores(dense, lexical, 1.0, depth)
    for row in range(5):
        matched = min(depth, int((lexical[row, 1:] > 0).sum()))
        want = top_k(lexical[row], matched, exclude_all=[0])
        np.testing.assert_array_equal(top_k(fused[row], matched, exclude_all=[0]), want)
        assert (fused[row] > 0).sum() == matched  # unmatched items are no lexical candidates
    assert (fused[:, 0] == 0).all()


def test_hybrid_scores_mix_both_and_check_their_input():
    dense = np.array([0.0, 0.9, 0.5, 0.1])
    lexical = np.array([0.0, 0.0, 1.0, 2.0])
    fused = hybrid_scores(dense, lexical, 0.5, depth=2)
    # dense top 2: 1, 2; lexical top 2: 3, 2 -> 2 is in both
    np.testing.assert_allclose(fused, [0, 0.5 / 61, 0.5 / 62 + 0.5 / 62, 0.5 / 61])
    with pytest.raises(ValueError, match="weight must be in \\[0, 1\\]; got weight=1.5"):
        hybrid_scores(dense, lexical, 1.5)
    with pytest.raises(ValueError, match="differ in shape"):
        hybrid_scores(dense, lexical[:3], 0.5)
    with pytest.raises(ValueError, match="retriever must be one of dense, hybrid; got retriever="):
        check_retriever("bm25")


def ids(result):
    return [r["item_id"] for r in result["items"]]


def test_search_with_the_hybrid_retriever(ctx):
    dense = search(ctx, "kettle", k=7)
    assert dense["retriever"] == "dense" and ids(dense)[0] == "i7"  # the encoder ignores text
    # weight 0: the dense order; weight 1: BM25 first (two equal kettles: the lower row first)
    assert ids(search(ctx, "kettle", k=7, retriever="hybrid", hybrid_weight=0.0)) == ids(dense)
    lexical = search(ctx, "kettle", k=3, retriever="hybrid", hybrid_weight=1.0)
    assert lexical["retriever"] == "hybrid" and ids(lexical)[:2] == ["i4", "i5"]
    mixed = search(ctx, "kettle", k=3, retriever="hybrid", hybrid_weight=0.5)
    assert set(ids(mixed)) >= {"i4", "i7"}
    assert mixed["items"][0]["score"] >= mixed["items"][1]["score"] > 0
    with pytest.raises(ValueError, match="got retriever='bm25'"):
        search(ctx, "kettle", retriever="bm25")
    with pytest.raises(ValueError, match="weight=-0.1"):
        search(ctx, "kettle", retriever="hybrid", hybrid_weight=-0.1)


def test_hybrid_search_finds_items_added_after_the_index_was_built(ctx):
    first = ctx.lexical_index()
    assert ctx.lexical_index() is first  # built once
    assert ids(search(ctx, "copper", k=1, retriever="hybrid", hybrid_weight=1.0)) != ["n1"]
    feats = {
        "item_ids": ["n1", "i3"],
        "titles": ["copper kettle", "tea cup"],
        "texts": ["copper kettle", "tea cup"],
        "categories": ["A > B > D", "A > B > C"],
        "brands": ["b2", "b1"],
        "prices": np.array([40.0, 7.0]),
        "category": np.array([[1, 1, 2], [1, 1, 1]]),
        "brand": np.array([2, 1]),
        "price_bucket": np.array([3, 1]),
    }
    add_items_to_context(ctx, feats, np.eye(2, 4, dtype=np.float32), None)
    assert ctx.lexical_index() is not first
    out = search(ctx, "copper", k=1, retriever="hybrid", hybrid_weight=1.0)
    assert ids(out) == ["n1"]
