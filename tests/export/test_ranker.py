"""The ranker export: `ranker` scores (and `ranker_embedded`'s, from the retrieval export's
query embeddings) equal the in-process `serving_scores`, stock TF Serving ops only, skipped
(with the reason) when the run has no trained ranker."""

import json

import numpy as np
import pytest
import tensorflow as tf
from tiny_run import make_tiny_ranker

from tfrec.core.rundir import RunDir
from tfrec.data.ranking_examples import ranking_queries
from tfrec.export.ranker import (
    export_ranker,
    ranker_example_inputs,
    ranker_model_name,
    reference_ranker_scores,
)
from tfrec.export.versions import custom_op_types, load_version
from tfrec.models.ranking_features import RankingFeatureBuilder

# TF Text ops that stock TF Serving links (`@org_tensorflow_text//tensorflow_text:ops_lib`)
STOCK_TF_TEXT_OPS = ["NormalizeUTF8", "RegexSplitWithOffsets", "WordpieceTokenizeWithOffsets"]


@pytest.fixture(scope="module")
def exported_ranker(exported):
    cfg, run, data, model, index, _ = exported
    ranker = make_tiny_ranker(cfg, run, data, model)
    return ranker, export_ranker(cfg, run, model, data, index)


def test_ranker_export_scores_equal_in_process_serving_scores(exported, exported_ranker):

    cfg, run, data, model, *_ = exported
    ranker, path = exported_ranker
    assert path == run.export_model("tfrec_ranker") / "1"
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
    # ranker_embedded: the same scores from the retrieval export's query_encoder embeddings
    loaded = load_version(path)
    encoder = load_version(run.export_model("tfrec") / "1").signatures["query_encoder"]
    as_tf = {
        k: tf.constant(v.astype(bytes) if v.dtype == object else v) for k, v in request.items()
    }
    emb = encoder(
        query=as_tf["query"], user_id=as_tf["user_id"], recent_item_ids=as_tf["recent_item_ids"]
    )["embedding"]
    embedded = loaded.signatures["ranker_embedded"](
        query_embedding=emb,
        **{k: as_tf[k] for k in ("recent_item_ids", "item_id", "position", "hour")},
    )
    np.testing.assert_allclose(
        embedded["serving_score"].numpy(), want["serving_score"], rtol=1e-4, atol=1e-5
    )
    info = json.loads((path / "assets.extra" / "tfrec.json").read_text())
    retrieval_info = json.loads(
        (run.export_model("tfrec") / "1" / "assets.extra" / "tfrec.json").read_text()
    )
    assert info["query_fingerprint"] == retrieval_info["query_fingerprint"]
    config = run.models_config.read_text()
    assert 'name: "tfrec"' in config  # run_export adds the ranker (tests/stages/test_export.py)


def test_ranker_export_skipped_without_a_trained_ranker(exported, tmp_path, capsys):

    cfg, run, data, model, index, _ = exported
    empty = RunDir(tmp_path / "run")
    assert export_ranker(cfg, empty, model, data, index) is None
    out = capsys.readouterr().out
    assert "tfrec_ranker skipped" in out and "ranking/model/model.json does not exist" in out


def test_ranker_example_inputs_cover_a_search_and_an_anonymous_feed(exported, exported_ranker):
    cfg, _, data, *_ = exported
    ranker, _ = exported_ranker
    request = ranker_example_inputs(data, ranker, n=3)
    assert request["item_id"].shape == (6,) and request["recent_item_ids"].shape == (6, 2)
    assert set(request["query"][3:]) == {""} and set(request["user_id"][3:]) == {""}
    assert (request["position"] == ranker.serving_position).all()
    assert ranker_model_name(cfg) == "tfrec_ranker"
