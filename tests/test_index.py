"""The item index: parameters from the catalog size, recall against brute force, upsert of new
items, identical results after pybind and SavedModel round trips."""

import numpy as np
import pytest
import tensorflow as tf

from tfrec.config import IndexConfig
from tfrec.index.scann_index import (
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
    from tfrec.index.scann_index import index_benchmark

    out = index_benchmark(
        [3000], dim=8, targets=(0.8, 0.95), num_queries=50, max_seconds=0.05, echo=lambda m: None
    )
    rows = out["rows"]
    assert [r["target_recall"] for r in rows] == [0.8, 0.95]
    for r in rows:
        assert r["recall_at_10"] >= r["target_recall"] or r["leaves_to_search"] == r["num_leaves"]
        assert r["ratio"] == r["scann_qps"] / r["brute_force_qps"]
    assert rows[0]["leaves_to_search"] <= rows[1]["leaves_to_search"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_bert_dir):
    from tiny_run import make_tiny_run

    return make_tiny_run(tmp_path_factory.mktemp("index-run"), tiny_bert_dir)


def test_index_add_embeds_new_items_from_text_and_eval_measures_them(tiny_run, tmp_path):
    import pandas as pd

    from tfrec.export.retrieval import RetrievalServingModule
    from tfrec.index.scann_index import add_items_for_run, eval_index_for_run, index_dir

    cfg, run, data, model, _ = tiny_run
    new = pd.DataFrame(
        {
            "item_id": ["cold1", "cold2", "i3"],  # two new items and one update
            "title": ["brand new camping tent", "enamel mug", "item number 3 renamed"],
            "category": ["E > F > G", "A > B > C", "A > B > D"],
            "brand": ["brand1", "nobrand", "brand3"],
            "price": [49.0, None, 12.5],
        }
    )
    path = tmp_path / "new_items.csv"
    new.to_csv(path, index=False)
    lines = []
    index = add_items_for_run(cfg, run, path, echo=lines.append)
    assert any("added 2 new and updated 1 items" in line for line in lines)
    assert len(index) == len(data.catalog) - 1 + 2

    # the saved index holds them, searchable by their item-tower embedding
    again = ItemIndex.load(index_dir(run))
    assert again.item_ids == index.item_ids
    module = RetrievalServingModule(model, data, again, max_k=5, use_scann=False)
    out = module.item_encoder(
        tf.constant(["cold1"]),
        tf.constant(["brand new camping tent"]),
        tf.constant([""]),
        tf.constant(["E > F > G"]),
        tf.constant(["brand1"]),
        tf.constant([49.0]),
    )
    assert not out["in_catalog"].numpy()[0]
    emb = out["embedding"].numpy()
    np.testing.assert_allclose(again.embeddings[again.item_ids.index("cold1")], emb[0], atol=1e-5)
    found, _ = again.search(emb, 1)
    assert found[0][0] == "cold1"
    added = pd.read_parquet(index_dir(run) / "added_items.parquet")
    assert sorted(added.item_id) == ["cold1", "cold2", "i3"]

    res = eval_index_for_run(cfg, run, echo=lines.append)
    assert res["recall_at_10"] == pytest.approx(1.0)  # a tiny catalog is searched exactly
    assert res["index_qps"] > 0 and res["brute_force_qps"] > 0
    assert "recall@10" in lines[-1]


def test_index_add_rejects_bad_items_naming_the_file(tiny_run, tmp_path):
    import pandas as pd

    from tfrec.data.validation import DataValidationError
    from tfrec.index.scann_index import add_items_for_run

    cfg, run, *_ = tiny_run
    path = tmp_path / "bad.csv"
    pd.DataFrame({"item_id": ["x1", "x1"], "title": ["a", "b"], "price": [1.0, -2.0]}).to_csv(
        path, index=False
    )
    with pytest.raises(DataValidationError, match="bad.csv"):
        add_items_for_run(cfg, run, path, echo=lambda m: None)


def test_recall_counts_tied_neighbours():
    from tfrec.index.scann_index import recall_against

    db = np.array([[1, 0], [1, 0], [0, 1], [0.5, 0.5]], np.float32)  # items 0 and 1 tie
    q = np.array([[1, 0]], np.float32)
    exact = np.array([[0]])
    assert recall_against(np.array([[1]]), exact) == 0.0  # by position: a miss
    assert recall_against(np.array([[1]]), exact, q, db) == 1.0  # by score: the same item
    assert recall_against(np.array([[3]]), exact, q, db) == 0.0
