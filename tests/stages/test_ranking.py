"""The `ranking` stage on the tiny run: trains the ranker and its baseline, evaluates both,
merges `ranking` into metrics.json, writes report/ranking.html and saves the models with the
retrieval weight the evaluation chose."""

import json

import numpy as np
import pandas as pd
import pytest

from tfrec.stages.artifacts import RunArtifacts
from tfrec.stages.ranking import run_ranking
from tfrec.training.ranking_io import load_ranking_model

pytestmark = pytest.mark.slow


def test_ranking_stage_trains_evaluates_reports_and_saves(tmp_path, tiny_bert_dir, capsys):
    from tiny_run import make_tiny_run

    cfg, run, data, _, _ = make_tiny_run(tmp_path, tiny_bert_dir, extra_features=True)
    cfg.training.verbose = 0
    cfg.ranking.epochs = 2
    cfg.ranking.deep_layers = [16]
    cfg.ranking.candidates = 10
    cfg.ranking.unshown_negatives = 2
    cfg.ranking.max_eval_searches = 40
    cfg.ranking.extra_features = {"rating": "numeric", "material": "categorical"}
    shown = data.impressions.drop_duplicates(["query", "item_id"]).head(200)
    pd.DataFrame(
        {
            "query": shown["query"],
            "item_id": shown["item_id"],
            "relevance": (np.arange(len(shown)) % 4).astype(float),
        }
    ).to_parquet(run.clean_table("judgments"), index=False)
    run.save_metrics({"retrieval": {"kept": True}})

    art = RunArtifacts(cfg, run)
    ranker = run_ranking(art)
    out = capsys.readouterr().out
    assert "[ranking] training the logistic-regression baseline" in out
    assert "unshown retrieval candidates added to training as negatives" in out

    metrics = json.loads(run.metrics.read_text())
    assert metrics["retrieval"] == {"kept": True}  # merged, not replaced
    r = metrics["ranking"]
    assert [row["model"] for row in r["classification"]] == [
        "ranker (logged position)",
        "logistic regression (logged position)",
        "ranker (position fixed to 1)",
        "logistic regression (position fixed to 1)",
    ]
    assert "NDCG@10 (judged relevance)" in r["position_effect"][0]
    e2e = r["end_to_end"]
    assert e2e["searches"] > 0 and e2e["candidates"] == 10
    assert "NDCG@10 (judged)" in e2e["rows"][0]
    assert r["significance"][0]["comparison"] == "click AUC: ranker - logistic regression"
    assert set(r["calibration"]) == {"ranker", "logistic regression"}
    # with judgments too, the judgment ranker's section comes in addition (ranking.judgments)
    assert {row["order"] for row in r["judgments"]["orders"]} >= {
        "retrieval (two-tower)",
        "listwise ranker (re-ranks the top 50)",
    }
    assert "[ranking] listwise ranker trained" in out

    page = run.report_page("ranking").read_text()
    assert "<h1>tfrec ranking: tiny</h1>" in page and "alt='calibration'" in page
    assert "End to end: retrieval then ranking" in page
    assert "Learning to rank from graded judgments" in page

    training = json.loads(run.ranking_training_summary.read_text())
    assert set(training) == {"model", "baseline"}
    weights = e2e["fusion_weights_from_val"]
    saved, extras = load_ranking_model(run.ranker)
    baseline, _ = load_ranking_model(run.ranking_baseline)
    assert saved.retrieval_weight == ranker.retrieval_weight == weights["ranker"]
    assert baseline.retrieval_weight == weights["logistic regression"]
    assert extras.kinds == cfg.ranking.extra_features
    assert baseline.cross == [] and baseline.deep == []
