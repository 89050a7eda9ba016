"""The item index: recall against brute force, upsert of new items, identical results after
pybind and SavedModel round trips."""

import numpy as np
import pytest
import tensorflow as tf

from tfrec.config import IndexConfig
from tfrec.index.exact import exact_top_k, synthetic_queries
from tfrec.index.scann_graph import load_scann_savedmodel
from tfrec.index.scann_index import ItemIndex


def unit(rng, n, d=16):
    x = rng.normal(size=(n, d)).astype("float32")
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("n,threshold", [(300, 1000), (4000, 1000)])
def test_build_add_save_load_round_trips(tmp_path, capsys, n, threshold):
    rng = np.random.default_rng(0)
    db = unit(rng, n)
    ids = [f"i{i}" for i in range(n)]
    cfg = IndexConfig(brute_force_below=threshold, eval_queries=200, target_recall=0.9)
    index = ItemIndex.build(db, ids, cfg)
    assert index.params.recall_at_10 >= 0.9
    assert f"[index] {index.params.mode} over {n} items" in capsys.readouterr().out
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


def test_load_names_the_missing_index(tmp_path):
    with pytest.raises(FileNotFoundError, match="tfrec index build"):
        ItemIndex.load(tmp_path / "nothing")
