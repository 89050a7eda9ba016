"""The retrieval export: TF Serving layout, declared signatures, exported top-k equals the
pre-export top-k, the item encoder equals the catalog embeddings."""

import numpy as np
import pytest
import tensorflow as tf

from tfrec.export.retrieval import reference_top_k
from tfrec.export.versions import custom_op_types, load_version, saved_model_op_types

# TF Text ops that stock TF Serving links (`@org_tensorflow_text//tensorflow_text:ops_lib`)
STOCK_TF_TEXT_OPS = ["NormalizeUTF8", "RegexSplitWithOffsets", "WordpieceTokenizeWithOffsets"]


def test_tf_serving_layout_and_models_config(exported):
    cfg, run, *_, paths = exported
    for name in ("tfrec", "tfrec_scann"):
        version = run.export_model(name) / "1"
        assert paths[name] == version
        assert (version / "saved_model.pb").is_file() and (version / "variables").is_dir()
        assert (version / "assets.extra" / "tf_serving_warmup_requests").is_file()
    config = run.models_config.read_text()
    assert 'name: "tfrec_scann"' in config and "latest { num_versions: 1 }" in config
    assert f'base_path: "{run.export_model("tfrec").resolve()}"' in config


def test_stock_model_has_no_fast_bert_or_scann_ops(exported):
    *_, paths = exported
    ops = saved_model_op_types(paths["tfrec"])
    assert "WordpieceTokenizeWithOffsets" in ops and "StatefulPartitionedCall" in ops
    assert not [op for op in ops if op.startswith("FastBert")]
    assert custom_op_types(paths["tfrec"]) == STOCK_TF_TEXT_OPS
    # the ScaNN model needs the ScaNN-enabled image anyway and keeps the fast tokenizer
    scann = custom_op_types(paths["tfrec_scann"])
    assert "Scann>ScannSearchBatched" in scann and "FastBertNormalize" in scann
    assert load_version(paths["tfrec"]).signatures  # and it loads


def test_signatures_declare_names_dtypes_and_shapes(exported):
    *_, paths = exported
    loaded = load_version(paths["tfrec_scann"])
    sig = loaded.signatures["retrieval"]
    inputs = sig.structured_input_signature[1]
    assert inputs["query"] == tf.TensorSpec([None], tf.string, "query")
    assert inputs["recent_item_ids"] == tf.TensorSpec([None, None], tf.string, "recent_item_ids")
    assert inputs["k"] == tf.TensorSpec([], tf.int32, "k")
    assert sig.structured_outputs["item_ids"].dtype == tf.string
    stock = load_version(paths["tfrec"])
    assert "retrieval" not in stock.signatures and "retrieval_bruteforce" in stock.signatures
    item = stock.signatures["item_encoder"].structured_input_signature[1]
    assert item["item_id"].dtype == tf.string and item["price"].dtype == tf.float32


@pytest.mark.parametrize(
    "name,sig,scann", [("tfrec", "retrieval_bruteforce", False), ("tfrec_scann", "retrieval", True)]
)
def test_exported_top_k_equals_pre_export(exported, name, sig, scann):
    _, _, data, model, index, paths = exported
    q = {
        "query": np.array(["mug", "red shoes", "", "tent"], object),
        "user_id": np.array([data.user_vocab.values[1], "", "stranger", ""], object),
        "recent_item_ids": np.array([["i1", "i2"], ["", ""], ["i5", ""], ["nope", ""]], object),
    }
    out = load_version(paths[name]).signatures[sig](
        **{k: tf.constant(v.astype(str)) for k, v in q.items()}, k=tf.constant(7)
    )
    got = [[x.decode() for x in row] for row in out["item_ids"].numpy()]
    assert got == reference_top_k(model, data, index, q, 7, scann)


def test_exact_reference_top_k_is_the_stable_order(exported):
    # ties and order as `np.argsort(-scores, kind="stable")`, which the export was checked with
    _, _, data, model, index, _ = exported
    q = {
        "query": np.array(["mug", ""], object),
        "user_id": np.array(["", ""], object),
        "recent_item_ids": np.array([[""], [""]], object),
    }
    feats = {
        "query": tf.constant(["mug", ""]),
        "user_idx": data.user_vocab.lookup(["", ""]),
        "history": data.item_vocab.lookup([""] * 2).reshape(2, 1),
    }
    scores = model.query_embeddings(feats).numpy() @ index.embeddings.T
    want = [[index.item_ids[i] for i in np.argsort(-row, kind="stable")[:9]] for row in scores]
    assert reference_top_k(model, data, index, q, 9, scann=False) == want


def test_k_is_bounded(exported):
    *_, paths = exported
    fn = load_version(paths["tfrec"]).signatures["retrieval_bruteforce"]
    args = {
        "query": tf.constant(["mug"]),
        "user_id": tf.constant([""]),
        "recent_item_ids": tf.constant([[""]]),
    }
    with pytest.raises(tf.errors.InvalidArgumentError, match="k must be <= 50"):
        fn(**args, k=tf.constant(51))
    with pytest.raises(tf.errors.InvalidArgumentError, match="k must be >= 1"):
        fn(**args, k=tf.constant(0))


def test_item_encoder_reproduces_catalog_embeddings(exported):
    _, _, data, model, _, paths = exported
    c = data.catalog
    rows = slice(1, 6)
    out = load_version(paths["tfrec"]).signatures["item_encoder"](
        item_id=tf.constant(c.item_ids[rows]),
        title=tf.constant(c.titles[rows]),
        description=tf.constant([""] * 5),
        category=tf.constant(c.categories[rows]),
        brand=tf.constant(c.brands[rows]),
        price=tf.constant(c.prices[rows].astype(np.float32)),
    )
    np.testing.assert_allclose(
        out["embedding"].numpy(), model.all_item_embeddings()[rows], atol=2e-4
    )
    assert out["in_catalog"].numpy().all()
