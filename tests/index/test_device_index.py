"""The device index (`index.kind` exact / approx_max_k): recall of `tf.math.approx_max_k` with
recall_target 0.95 against exact top-k on 100k seeded random embeddings, the recall lost to
16-bit embeddings measured at build, the `auto` rule, saving and loading (its SavedModel loads
with plain `tf.saved_model.load`, without ScaNN, and returns the in-process items), cold-start
adds, and the k buckets that let `approx_max_k` serve a `k` given at request time."""

import json
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tfrec.bench.index import random_unit_embeddings
from tfrec.config import ConfigError, IndexConfig, load_config
from tfrec.core.topk import top_k
from tfrec.index.device_graph import k_bucket, k_buckets
from tfrec.index.device_index import DeviceIndex
from tfrec.index.exact import exact_top_k, recall_against, synthetic_queries
from tfrec.index.kinds import (
    build_item_index,
    index_matches_config,
    load_item_index,
    resolve_kind,
)
from tfrec.index.scann_index import ItemIndex
from tfrec.serving.models import _uses_scann_ops


@pytest.fixture(scope="module")
def random_100k():
    db = random_unit_embeddings(100_000, 32, seed=7)
    return db, synthetic_queries(db, 200, seed=8), [f"x{i}" for i in range(len(db))]


def test_approx_max_k_reaches_the_recall_target_on_100k_random_embeddings(random_100k):
    db, queries, ids = random_100k
    cfg = IndexConfig(kind="approx_max_k", target_recall=0.95, eval_queries=200)
    index = build_item_index(db, ids, cfg, queries)
    assert isinstance(index, DeviceIndex)
    assert index.params.mode == "approx_max_k" and index.params.recall_target == 0.95
    # measured independently of the build: recall@10 against exact numpy top-k
    approx, scores = index.search_positions(queries, 10)
    exact = exact_top_k(db, queries, 10)
    recall = recall_against(approx, exact)
    assert recall >= 0.95
    assert index.params.recall_at_10 == pytest.approx(
        recall_against(approx, exact, queries, db), abs=1e-9
    )
    assert np.all(np.diff(scores, axis=1) <= 0)  # best first
    np.testing.assert_allclose(
        scores, np.take_along_axis(queries @ db.T, approx, axis=1), rtol=1e-4, atol=1e-5
    )


def test_bfloat16_embeddings_have_their_recall_loss_measured(random_100k, capsys):
    db, queries, ids = random_100k
    cfg = IndexConfig(kind="approx_max_k", dtype="bfloat16", eval_queries=200)
    index = build_item_index(db, ids, cfg, queries)
    assert index.module.table.dtype == tf.bfloat16
    p = index.params
    assert p.dtype == "bfloat16" and p.recall_at_10_float32 is not None
    # the float32 figure is the same kind with float32 embeddings, on the same queries
    wide = DeviceIndex(db, ids, replace(p, dtype="float32"))
    assert p.recall_at_10_float32 == pytest.approx(wide.recall(queries))
    assert p.recall_at_10 <= p.recall_at_10_float32
    assert p.recall_at_10 == pytest.approx(index.recall(queries))
    assert "loss" in capsys.readouterr().out


def test_the_auto_rule_by_accelerator_and_catalog_size():
    cfg = IndexConfig(brute_force_below=20_000)
    assert resolve_kind(cfg, 1_000_000, devices=[]) == "scann"
    assert resolve_kind(cfg, 19_999, devices=["GPU"]) == "exact"
    assert resolve_kind(cfg, 20_000, devices=["GPU"]) == "approx_max_k"
    assert resolve_kind(cfg, 20_000, devices=["TPU"]) == "approx_max_k"
    for kind in ("scann", "exact", "approx_max_k"):
        assert resolve_kind(IndexConfig(kind=kind), 10, devices=["GPU"]) == kind
    # this machine has no accelerator: auto is ScaNN, as before the device kinds existed
    if not tf.config.list_physical_devices("GPU") and not tf.config.list_physical_devices("TPU"):
        assert resolve_kind(cfg, 1_000_000) == "scann"


def test_scann_with_a_16_bit_dtype_is_refused_naming_the_keys():
    db = random_unit_embeddings(50, 8, seed=0)
    cfg = IndexConfig(kind="scann", dtype="bfloat16")
    with pytest.raises(ValueError, match="index.dtype bfloat16.*index.kind: scann"):
        build_item_index(db, [str(i) for i in range(50)], cfg)


def test_exact_kind_equals_the_numpy_top_k_for_every_k():
    db = random_unit_embeddings(300, 16, seed=1)
    queries = synthetic_queries(db, 20, seed=2)
    ids = [str(i) for i in range(300)]
    for mode in ("exact", "approx_max_k"):
        index = DeviceIndex.build(db, ids, IndexConfig(eval_queries=20), queries, mode=mode)
        for k in (1, 3, 10, 33, 300):
            got, _ = index.search_positions(queries, k)
            # on CPU approx_max_k computes the exact top-k (the op is only optimized on TPU)
            np.testing.assert_array_equal(got, top_k(queries @ db.T, k))


def test_k_buckets_cover_every_k_up_to_the_limit():
    assert k_bucket(1, 60) == 1 and k_bucket(10, 60) == 16 and k_bucket(50, 60) == 60
    assert k_buckets(50, 60) == [1, 2, 4, 8, 16, 32, 60]
    assert k_buckets(1000, 60) == [1, 2, 4, 8, 16, 32, 60]
    assert k_buckets(10, 1_000_000) == [1, 2, 4, 8, 16]
    for limit, n in ((50, 60), (1000, 5000), (7, 7)):
        buckets = k_buckets(limit, n)
        assert all(k_bucket(k, n) in buckets for k in range(1, min(limit, n) + 1))


def test_save_load_add_and_the_savedmodel_loads_without_scann(tmp_path):
    db = random_unit_embeddings(500, 16, seed=3)
    ids = [f"i{i}" for i in range(500)]
    queries = synthetic_queries(db, 4, seed=4)
    cfg = IndexConfig(kind="approx_max_k", dtype="float16", eval_queries=20)
    index = build_item_index(db, ids, cfg)
    index.save(tmp_path / "index")
    again = load_item_index(tmp_path / "index")
    assert isinstance(again, DeviceIndex) and again.params == index.params
    want, want_scores = index.search(queries, 7)
    assert again.search(queries, 7)[0] == want
    assert index_matches_config(again.params, cfg, 500)
    assert not index_matches_config(again.params, IndexConfig(kind="approx_max_k"), 500)
    assert not index_matches_config(again.params, IndexConfig(kind="scann"), 500)

    # the index's SavedModel, in a fresh interpreter that never imports ScaNN
    script = textwrap.dedent(
        f"""
        import json, sys
        import numpy as np
        import tensorflow as tf
        sm = tf.saved_model.load({str(tmp_path / "index" / "savedmodel")!r})
        q = np.array({queries.tolist()!r}, np.float32)
        out = sm.signatures["search"](embedding=tf.constant(q), k=tf.constant(7))
        print(json.dumps({{
            "ids": [[x.decode() for x in row] for row in out["item_ids"].numpy()],
            "scores": out["scores"].numpy().tolist(),
            "scann": any(m.startswith("scann") for m in sys.modules),
        }}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["scann"] is False
    assert out["ids"] == want
    np.testing.assert_allclose(out["scores"], want_scores, rtol=1e-6)

    # cold start: appended rows are searchable at once, an update replaces its row
    new = np.stack([queries[0], -queries[1]])
    assert again.add(["new1", "i3"], new) == 1
    assert len(again) == 501 and again.search(queries[:1], 1)[0] == [["new1"]]
    np.testing.assert_allclose(again.embeddings[3], -queries[1])


def test_load_item_index_still_loads_scann_and_says_when_there_is_none(tmp_path):
    db = random_unit_embeddings(100, 8, seed=5)
    ids = [str(i) for i in range(100)]
    ItemIndex.build(db, ids, IndexConfig(eval_queries=10)).save(tmp_path / "scann")
    DeviceIndex.build(db, ids, IndexConfig(eval_queries=10)).save(tmp_path / "device")
    assert isinstance(load_item_index(tmp_path / "scann"), ItemIndex)
    with pytest.raises(FileNotFoundError, match="tfrec index build"):
        load_item_index(tmp_path / "nothing")
    # the server imports ScaNN only for a graph that runs its ops
    for name, scann in (("scann", True), ("device", False)):
        pb = (tmp_path / name / "savedmodel" / "saved_model.pb").read_bytes()
        assert _uses_scann_ops(saved_model_pb2.SavedModel.FromString(pb)) is scann


def test_the_index_keys_load_from_yaml_and_a_bad_kind_names_the_key(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("index:\n  kind: approx_max_k\n  dtype: bfloat16\n  target_recall: 0.9\n")
    cfg = load_config(path).index
    assert (cfg.kind, cfg.dtype, cfg.target_recall) == ("approx_max_k", "bfloat16", 0.9)
    assert load_config(tmp_path / "x.yaml").index.brute_force_below == 20_000
    path.write_text("index:\n  kind: gpu\n")
    with pytest.raises(ConfigError, match=r"x.yaml: index.kind .*'gpu'"):
        load_config(path)
