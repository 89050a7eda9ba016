"""The index tuner searches leaves_to_search (and reorder) both ways: from a start that
overshoots the target it comes down to the fewest leaves that still meet it."""

import numpy as np
import pytest

from tfrec.config import IndexConfig
from tfrec.index.exact import exact_top_k, synthetic_queries
from tfrec.index.scann_index import ItemIndex
from tfrec.index.search_tuner import measure, tune_search


def clustered(n, d=32, clusters=50, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(clusters, d))
    x = centers[rng.integers(0, clusters, n)] + 0.35 * rng.normal(size=(n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype("float32")


@pytest.fixture(scope="module")
def built():
    db = clustered(20_000)
    cfg = IndexConfig(brute_force_below=1000, eval_queries=300, target_recall=0.9)
    index = ItemIndex.build(db, [f"i{i}" for i in range(len(db))], cfg)
    queries = synthetic_queries(db, 300, seed=3)
    return index, queries, exact_top_k(db, queries, 10)


def test_build_tunes_to_the_target(built):
    index, queries, exact = built
    assert index.params.mode == "scann"
    assert index.params.recall_at_10 >= 0.9
    assert 1 < index.params.leaves_to_search < index.params.num_leaves


def test_an_overshooting_start_comes_down(built, capsys):
    index, queries, exact = built
    params = index.params
    params.leaves_to_search, params.reorder = params.num_leaves, 400  # every leaf: recall ~1
    start = measure(index, queries, exact, params.num_leaves, 400)
    assert start.recall_at_10 > 0.99
    chosen = tune_search(index, queries, exact, target=0.9)
    out = capsys.readouterr().out
    assert chosen.recall_at_10 >= 0.9
    assert chosen.leaves_to_search < params.num_leaves // 4
    assert (params.leaves_to_search, params.reorder) == (chosen.leaves_to_search, chosen.reorder)
    # the search is now what the chosen probe measured
    assert index.recall(queries, exact) == pytest.approx(chosen.recall_at_10)
    # the cheapest: one leaf fewer falls short, and so do fewer re-scored candidates (reorder
    # is bisected to an eighth of its range, (400 - num_neighbors) // 8)
    fewer = measure(index, queries, exact, chosen.leaves_to_search - 1, chosen.reorder)
    assert fewer.recall_at_10 < 0.9
    if chosen.reorder > params.num_neighbors:
        step = (400 - params.num_neighbors) // 8
        fewer = measure(index, queries, exact, chosen.leaves_to_search, chosen.reorder - step)
        assert fewer.recall_at_10 < 0.9
    assert f"chose leaves_to_search {chosen.leaves_to_search}" in out
    assert out.count("probe leaves_to_search") >= 3 and "q/s" in out


def test_a_fixed_reorder_is_kept(built):
    index, queries, exact = built
    index.params.leaves_to_search, index.params.reorder = 3, 400
    chosen = tune_search(index, queries, exact, target=0.9, tune_reorder=False)
    assert chosen.reorder == 400 and chosen.recall_at_10 >= 0.9
