"""Evaluating the ranker (`tfrec.evaluation.ranking`): the significance table's comparisons,
the judgments lookup."""

import numpy as np
import pandas as pd

from tfrec.evaluation.ranking import judgment_lookup, significance_table


def test_significance_table_names_each_comparison():
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"search_id": np.repeat(np.arange(80), 5)})
    labels = {"click": (rng.random(n) < 0.3).astype(float)}
    labels["purchase"] = labels["click"] * (rng.random(n) < 0.5)
    noise = rng.normal(size=n)
    preds = {
        "ranker": {"click": labels["click"] + noise, "purchase": labels["purchase"] + noise},
        "logistic regression": {"click": noise, "purchase": noise},
    }
    e2e = pd.DataFrame({"order": ["x"]})
    better, worse = np.full(50, 0.6), np.full(50, 0.5)
    e2e.attrs["per_search"] = {
        "retrieval only": {"NDCG@10": worse},
        "retrieval + ranker score alone": {"NDCG@10": worse},
        "retrieval + ranker serving score (beta 1 from val)": {"NDCG@10": better},
        "retrieval + logistic regression serving score (beta 2 from val)": {"NDCG@10": worse},
    }
    table = significance_table(frame, labels, preds, e2e, seed=0)
    assert list(table["comparison"]) == [
        "click AUC: ranker - logistic regression",
        "purchase AUC: ranker - logistic regression",
        "NDCG@10: retrieval + ranker - retrieval alone",
        "NDCG@10: retrieval + ranker - retrieval + LR",
    ]
    assert (table["95% low"] > 0).all()
    np.testing.assert_allclose(table["difference"].iloc[2:], [0.1, 0.1])
    # without the end-to-end table only the AUC rows remain
    assert len(significance_table(frame, labels, preds, pd.DataFrame(), seed=0)) == 2


def test_judgment_lookup_strips_queries_and_reads_grades():
    judgments = pd.DataFrame(
        {"query": [" red shoes ", "pan"], "item_id": ["a", "b"], "relevance": [3, 0]}
    )
    assert judgment_lookup(judgments) == {("red shoes", "a"): 3.0, ("pan", "b"): 0.0}
    assert judgment_lookup(None) is None
