"""Exports: TF Serving layout, declared signatures, exported top-k equals the pre-export top-k,
item encoder equals the catalog embeddings, broken versions are never published."""

import numpy as np
import pytest
import tensorflow as tf
from tiny_run import make_tiny_run

from tfrec.export.retrieval import (
    RetrievalServingModule,
    custom_op_types,
    export_model,
    load_version,
    reference_top_k,
    save_version,
    saved_model_op_types,
)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_bert_dir):
    cfg, run, data, model, index = make_tiny_run(tmp_path_factory.mktemp("export"), tiny_bert_dir)
    paths = export_model(cfg, run, model, data, index)
    return cfg, run, data, model, index, paths


def test_tf_serving_layout_and_models_config(exported):
    cfg, run, *_, paths = exported
    for name in ("tfrec", "tfrec_scann"):
        version = run.root / "export" / name / "1"
        assert paths[name] == version
        assert (version / "saved_model.pb").is_file() and (version / "variables").is_dir()
        assert (version / "assets.extra" / "tf_serving_warmup_requests").is_file()
    config = (run.root / "export" / "models.config").read_text()
    assert 'name: "tfrec_scann"' in config and "latest { num_versions: 1 }" in config


# TF Text ops that stock TF Serving links (`@org_tensorflow_text//tensorflow_text:ops_lib`)
STOCK_TF_TEXT_OPS = ["NormalizeUTF8", "RegexSplitWithOffsets", "WordpieceTokenizeWithOffsets"]


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


def test_a_version_that_fails_its_check_is_never_published(exported, monkeypatch):
    cfg, run, data, model, index, _ = exported
    module = RetrievalServingModule(model, data, index, 5, use_scann=False)
    base = run.root / "export" / "broken"
    bad = {
        "retrieval_bruteforce": {
            "query": np.array(["x"], object),
            "user_id": np.array([""], object),
            "recent_item_ids": np.array([[""]], object),
            "k": np.int32(99),
        }
    }
    with pytest.raises(tf.errors.InvalidArgumentError):
        save_version(module, base, "broken", bad, {})
    assert not base.exists() or not any(base.iterdir())


@pytest.fixture(scope="module")
def with_extras(tmp_path_factory, tiny_bert_dir):
    return make_tiny_run(tmp_path_factory.mktemp("extras"), tiny_bert_dir, extra_features=True)


def test_item_encoder_takes_config_declared_extra_features(with_extras, tmp_path):
    import pandas as pd

    from tfrec.serving.models import load_version as serve_version
    from tfrec.export.retrieval import example_inputs, extra_item_inputs, run_numeric_stats

    cfg, run, data, model, index = with_extras
    items = pd.read_parquet(run.clean / "items.parquet")
    extras = extra_item_inputs(data.catalog.extra_feature_names)
    assert [(e.name, e.kind) for e in extras] == [
        ("material", "categorical"),
        ("rating", "numeric"),
        ("origin", "text"),
    ]
    module = RetrievalServingModule(
        model, data, index, 5, use_scann=False, numeric_stats=run_numeric_stats(run, data)
    )
    info = {"optional_inputs": {e.name: e.default for e in extras}}
    requests = example_inputs(data, index, 5, extras)
    path = save_version(module, tmp_path / "tfrec", "tfrec", requests, info)
    sig = load_version(path).signatures["item_encoder"]
    spec = sig.structured_input_signature[1]
    assert spec["rating"].dtype == tf.float32 and spec["material"].dtype == tf.string

    # the catalog's items with their extra features give the trained catalog embeddings
    rows = slice(0, 12)
    part = items.iloc[rows]
    out = sig(
        item_id=tf.constant(part.item_id.tolist()),
        title=tf.constant(part.title.tolist()),
        description=tf.constant([""] * 12),
        category=tf.constant(part.category.tolist()),
        brand=tf.constant(part.brand.tolist()),
        price=tf.constant(part.price.to_numpy(np.float32)),
        material=tf.constant(part.material.fillna("").tolist()),
        rating=tf.constant(part.rating.to_numpy(np.float32)),
        origin=tf.constant(part.origin.tolist()),
    )
    positions = data.item_vocab.lookup(part.item_id.tolist())
    want = model.all_item_embeddings()[positions]
    np.testing.assert_allclose(out["embedding"].numpy(), want, atol=2e-4)

    # the server fills omitted extras as unknown; unknown differs from a known value
    version = serve_version("tfrec", path)
    base = {
        k: np.array(v.tolist(), dtype=object)
        for k, v in part.iloc[:2][["item_id", "title", "category", "brand"]].items()
    }
    base["description"] = np.array(["", ""], object)
    base["price"] = part.price.iloc[:2].to_numpy(np.float32)
    unknown = version.run("item_encoder", dict(base))["embedding"]
    known = version.run(
        "item_encoder",
        {**base, "material": np.array(["steel", "steel"], object), "rating": np.float32([4, 4])},
    )["embedding"]
    assert not np.allclose(unknown, known, atol=1e-4)
    filled = version.run(
        "item_encoder",
        {**base, "material": np.array(["", ""], object), "rating": np.float32([np.nan] * 2)},
    )["embedding"]
    np.testing.assert_allclose(unknown, filled, atol=1e-6)


def test_extra_feature_names_are_made_valid_and_clashes_named():
    from tfrec.export.retrieval import extra_item_inputs

    got = extra_item_inputs({"categorical": ["size (EU)"], "numeric": ["_weight"]})
    assert [e.name for e in got] == ["size__EU_", "x_weight"]
    with pytest.raises(ValueError, match=r"\['brand'\] clash"):
        extra_item_inputs({"text": ["brand"]})


# --- the ranker ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported_ranker(exported):
    from tiny_run import make_tiny_ranker

    from tfrec.export.retrieval import export_ranker

    cfg, run, data, model, index, _ = exported
    ranker = make_tiny_ranker(cfg, run, data, model)
    return ranker, export_ranker(cfg, run, model, data, index)


def test_ranker_export_scores_equal_in_process_serving_scores(exported, exported_ranker):
    from tfrec.data.ranking_examples import ranking_queries
    from tfrec.export.retrieval import reference_ranker_scores
    from tfrec.training.ranking import RankingFeatureBuilder

    cfg, run, data, model, *_ = exported
    ranker, path = exported_ranker
    assert path == run.root / "export" / "tfrec_ranker" / "1"
    assert custom_op_types(path) == STOCK_TF_TEXT_OPS  # stock TF Serving can run it
    sig = load_version(path).signatures["ranker"]
    inputs = sig.structured_input_signature[1]
    assert inputs["item_id"] == tf.TensorSpec([None], tf.string, "item_id")
    assert inputs["position"] == tf.TensorSpec([None], tf.int64, "position")
    assert inputs["hour"] == tf.TensorSpec([None], tf.int64, "hour")
    # candidates of three requests, one with an unknown user, unknown and padded history ids
    ids = list(data.catalog.item_ids[1:7])
    b = len(ids)
    request = {
        "query": np.array([data.queries[1]] * b + ["gift"] * b + [""] * b, dtype=object),
        "user_id": np.array([data.user_vocab.values[1]] * b + ["nobody"] * 2 * b, dtype=object),
        "recent_item_ids": np.array(
            [[ids[0], ids[3], ""]] * b + [["zz", "", ""]] * b + [[ids[2], "", ""]] * b,
            dtype=object,
        ),
        "item_id": np.array(ids * 3, dtype=object),
        "position": np.ones(3 * b, np.int64),
        "hour": np.array([3] * b + [12] * b + [23] * b, np.int64),
    }
    got = sig(
        **{k: tf.constant(v.astype(bytes) if v.dtype == object else v) for k, v in request.items()}
    )
    builder = RankingFeatureBuilder(data, model, ranking_queries(data))
    want = reference_ranker_scores(builder, model, ranker, request, cfg.retrieval.temperature)
    for out, ref in (
        ("p_click", "click"),
        ("p_purchase", "purchase"),
        ("score", "score"),
        ("serving_score", "serving_score"),
    ):
        np.testing.assert_allclose(got[out].numpy(), want[ref], rtol=1e-4, atol=1e-5)
    assert got["in_catalog"].numpy().all()
    config = (run.root / "export" / "models.config").read_text()
    assert 'name: "tfrec"' in config  # export_run adds the ranker; see test_export_run_*


def test_ranker_export_skipped_without_a_trained_ranker(exported, tmp_path, capsys):
    from tfrec.export.retrieval import export_ranker
    from tfrec.core.rundir import RunDir

    cfg, run, data, model, index, _ = exported
    empty = RunDir(tmp_path / "run")
    assert export_ranker(cfg, empty, model, data, index) is None
    out = capsys.readouterr().out
    assert "tfrec_ranker skipped" in out and "ranking/model/model.json does not exist" in out
