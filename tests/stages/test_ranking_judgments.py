"""The `ranking` stage on a judgments-only tiny run (no impressions): only the judgment rankers
train (listwise and cross-encoder, tiny BERT), their NDCG@10 on held-out judged queries is
printed, saved to metrics.json (`ranking.judgments`) and shown in report/ranking.html; the
saved rankers load back. `ranking.judgments: on` without judgments, and a run with neither
impressions nor judgments, stop with clear errors."""

import json

import pytest
from tiny_judgments import make_judged_run

from tfrec.stages.artifacts import RunArtifacts
from tfrec.stages.ranking import run_ranking
from tfrec.training.judgments import load_judgment_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def judged_run(tmp_path_factory, tiny_bert_dir):
    return make_judged_run(tmp_path_factory.mktemp("judged"), tiny_bert_dir)


def _small(cfg):
    r = cfg.ranking
    r.judgment_model = "both"
    r.judgment_candidates = 10
    r.judgment_max_judged = 10
    r.judgment_epochs = 3
    r.judgment_hidden_layers = [16]
    r.judgment_val_fraction = 0.2
    r.judgment_test_fraction = 0.3
    r.cross_encoder_candidates = 4
    r.cross_encoder_max_length = 12
    r.cross_encoder_query_length = 5
    r.cross_encoder_trainable_layers = 1
    r.cross_encoder_train_queries = 6
    return cfg


def test_judgments_only_run_trains_and_reports_the_judgment_rankers(judged_run, capsys):
    cfg, run, data = judged_run
    assert data.impressions.empty
    _small(cfg)
    run.save_metrics({"retrieval": {"kept": True}})
    assert run_ranking(RunArtifacts(cfg, run)) is None
    out = capsys.readouterr().out
    assert "no impressions: only the judgment ranker is trained" in out
    assert "training the ranker" not in out
    assert "judgments: 9 held-out judged queries" in out
    assert "listwise ranker (re-ranks the top 10)" in out

    metrics = json.loads(run.metrics.read_text())
    assert metrics["retrieval"] == {"kept": True}
    j = metrics["ranking"]["judgments"]
    assert set(metrics["ranking"]) == {"judgments"}
    assert j["split"] == {"train": 15, "val": 6, "test": 9}
    assert j["list_features"] == ["retrieval_logit", "bm25", "zero_shot"]
    orders = {row["order"]: row for row in j["orders"]}
    assert set(orders) == {
        "retrieval (two-tower)",
        "BM25",
        "zero-shot encoder",
        "listwise ranker (re-ranks the top 10)",
        "oracle re-rank of the top 10",
        "cross-encoder (re-ranks the top 4)",
        "oracle re-rank of the top 4",
    }
    for row in orders.values():
        assert 0 <= row["95% low"] <= row["NDCG@10"] <= row["95% high"] <= 1
    # re-ranking the top 10 can only reach the oracle of those 10
    assert orders["listwise ranker (re-ranks the top 10)"]["NDCG@10"] <= (
        orders["oracle re-rank of the top 10"]["NDCG@10"] + 1e-9
    )
    # titles name kind and colour: BM25 finds the grade-3 items (both words) first
    assert orders["BM25"]["NDCG@10"] > 0.6
    comparisons = [row["comparison"] for row in j["significance"]]
    assert "NDCG@10: listwise ranker (re-ranks the top 10) - retrieval (two-tower)" in comparisons
    assert "NDCG@10: cross-encoder (re-ranks the top 4) - BM25" in comparisons

    page = run.report_page("ranking").read_text()
    assert "Learning to rank from graded judgments" in page
    assert "the CTR ranker was not trained" in page and "calibration" not in page


def test_saved_judgment_rankers_load(judged_run):
    cfg, run, _ = judged_run
    if not run.judgment_ranker.exists():
        pytest.skip("needs the stage test first")
    import numpy as np
    import tensorflow as tf

    doc = json.loads((run.judgment_ranker / "model.json").read_text())
    assert doc["class"] == "ListwiseRanker"
    model = load_judgment_model(
        run.cross_encoder, {"query": tf.constant(["red mug"]), "title": tf.constant(["red mug 1"])}
    )
    assert model.get_config()["max_length"] == 12
    assert np.isfinite(model({"query": tf.constant(["a"]), "title": tf.constant(["b"])})).all()


def test_judgments_on_without_a_table_and_neither_input(tmp_path, tiny_bert_dir):
    cfg, run, _ = make_judged_run(tmp_path, tiny_bert_dir)
    run.clean_table("judgments").unlink()
    cfg.ranking.judgments = "on"
    with pytest.raises(ValueError, match="ranking.judgments is `on` but the run has no judg"):
        run_ranking(RunArtifacts(cfg, run))
    cfg.ranking.judgments = "auto"
    with pytest.raises(ValueError, match="needs logged impressions .* or graded judgments"):
        run_ranking(RunArtifacts(cfg, run))
