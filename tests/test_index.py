"""The item index: parameters from the catalog size, recall against brute force, upsert of new
items, identical results after pybind and SavedModel round trips."""

import numpy as np
import pytest
import tensorflow as tf

from tfrec.config import IndexConfig
from tfrec.index import (
    ItemIndex,
    choose_params,
    exact_top_k,
    load_scann_savedmodel,
    synthetic_queries,
)


def unit(rng, n, d=16):
    x = rng.normal(size=(n, d)).astype("float32")
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_params_follow_catalog_size():
    cfg = IndexConfig(brute_force_below=1000)
    assert choose_params(999, cfg).mode == "brute_force"
    p = choose_params(1_000_000, cfg)
    assert p.mode == "scann" and p.num_leaves == 1000 and p.reorder >= cfg.num_neighbors
    with pytest.raises(ValueError, match="num_items"):
        choose_params(0, cfg)


@pytest.mark.parametrize("n,threshold", [(300, 1000), (4000, 1000)])
def test_build_add_save_load_round_trips(tmp_path, n, threshold):
    rng = np.random.default_rng(0)
    db = unit(rng, n)
    ids = [f"i{i}" for i in range(n)]
    cfg = IndexConfig(brute_force_below=threshold, eval_queries=200, target_recall=0.9)
    index = ItemIndex.build(db, ids, cfg, echo=lambda m: None)
    assert index.params.recall_at_10 >= 0.9
    queries = synthetic_queries(db, 30, seed=1)
    if index.params.mode == "brute_force":
        positions, _ = index.search_positions(queries, 10)
        np.testing.assert_array_equal(positions, exact_top_k(db, queries, 10))

    # cold start: a new item is found without rebuilding
    assert index.add(["new"], queries[:1]) == 1
    found, scores = index.search(queries[:1], 3)
    assert found[0][0] == "new" and np.isclose(scores[0][0], 1.0, atol=1e-3)

    index.save(tmp_path / "index")
    again = ItemIndex.load(tmp_path / "index")
    assert again.search(queries, 5)[0] == index.search(queries, 5)[0]
    sm = load_scann_savedmodel(tmp_path / "index" / "savedmodel")
    out = sm.signatures["search"](embedding=tf.constant(queries), k=tf.constant(5))
    assert [[x.decode() for x in r] for r in out["item_ids"].numpy()] == index.search(queries, 5)[0]


def test_bad_input():
    with pytest.raises(ValueError, match="unique"):
        ItemIndex.build(np.zeros((2, 4), np.float32), ["a", "a"], IndexConfig())
    with pytest.raises(ValueError, match="N = len"):
        ItemIndex.build(np.zeros((3, 4), np.float32), ["a", "b"], IndexConfig())


def test_index_benchmark_reaches_each_target_or_searches_every_leaf():
    from tfrec.index import index_benchmark

    out = index_benchmark(
        [3000], dim=8, targets=(0.8, 0.95), num_queries=50, max_seconds=0.05, echo=lambda m: None
    )
    rows = out["rows"]
    assert [r["target_recall"] for r in rows] == [0.8, 0.95]
    for r in rows:
        assert r["recall_at_10"] >= r["target_recall"] or r["leaves_to_search"] == r["num_leaves"]
        assert r["ratio"] == r["scann_qps"] / r["brute_force_qps"]
    assert rows[0]["leaves_to_search"] <= rows[1]["leaves_to_search"]
