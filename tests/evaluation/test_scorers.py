"""The lexical and hybrid scorers of the evaluation, and the choice of the fusion weight on the
validation searches (the dense side is stubbed: an oracle or noise)."""

import numpy as np
import pytest
from tiny_shop import make_shop

import tfrec.evaluation.scorers as scorers
from tfrec.config import SplitConfig
from tfrec.core.topk import top_k
from tfrec.data.prepared import prepare_data
from tfrec.evaluation.scorers import (
    FUSION_WEIGHTS,
    bm25_scorer,
    catalog_lexical_index,
    choose_fusion_weight,
    fusion_summary,
    hybrid_scorer,
)


@pytest.fixture(scope="module")
def data():
    items, events = make_shop()
    # a few titles that hold query words, so BM25 has something to find
    items.loc[:4, "title"] = ["red shoes", "frying pan", "mug", "blue mug", "tent"]
    return prepare_data(items, events, SplitConfig(test_days=5, val_days=5))


def oracle(inst, n_items):
    """Scores that put each search's relevant items first (by gain)."""
    out = np.zeros((len(inst), n_items))
    for row, (pos, gains) in enumerate(zip(inst["positives"], inst["gains"])):
        out[row, pos] = 1 + np.asarray(gains, float)
    return out


def noise(n, n_items, seed):
    return np.random.default_rng(seed).random((n, n_items))


class StubLexical:
    """A lexical side answering in the order choose_fusion_weight asks (one batch)."""

    def __init__(self, answer):
        self.answer = answer

    def scores(self, queries):
        return self.answer(len(queries))


def test_bm25_scorer_scores_every_item_for_each_query(data):
    inst = data.search_eval["test"]
    lexical = catalog_lexical_index(data)
    s = bm25_scorer(data, lexical)(inst)
    assert s.shape == (len(inst), len(data.catalog)) and (s[:, 0] == 0).all()
    mug = [i for i, q in enumerate(inst["query"]) if q == "mug"]
    assert mug and set(top_k(s[mug[0]], 2)) == {3, 4}  # "mug" and "blue mug" (rows 1 + 2, 3)
    np.testing.assert_array_equal(bm25_scorer(data)(inst), s)  # builds the same index itself


def test_the_weight_follows_the_side_that_ranks_better(data, monkeypatch):
    inst = data.search_eval["val"]
    n_items = len(data.catalog)
    monkeypatch.setattr(scorers, "model_scorer", lambda d, m: lambda i: oracle(i, n_items))
    lexical = StubLexical(lambda n: noise(n, n_items, 0))
    fusion = choose_fusion_weight(data, None, lexical, "val", batch_size=10_000)
    assert fusion["chosen"] and fusion["weight"] == 0.0 and fusion["instances"] == len(inst)
    assert [row["weight"] for row in fusion["grid"]] == list(FUSION_WEIGHTS)
    assert fusion["grid"][0]["ndcg@10"] > fusion["grid"][-1]["ndcg@10"]

    monkeypatch.setattr(scorers, "model_scorer", lambda d, m: lambda i: noise(len(i), n_items, 1))
    lexical = StubLexical(lambda n: oracle(inst, n_items)[:n])
    fusion = choose_fusion_weight(data, None, lexical, "val", batch_size=10_000)
    ndcg = {row["weight"]: row["ndcg@10"] for row in fusion["grid"]}
    assert ndcg[1.0] == pytest.approx(1.0) == max(ndcg.values())
    # ties go to the smallest weight that reaches the best value
    assert fusion["weight"] == min(w for w, v in ndcg.items() if v == ndcg[1.0]) > 0
    assert fusion["grid"][0]["ndcg@10"] < 0.5
    line = fusion_summary(fusion, configured=0.25)
    assert f"BM25 weight {fusion['weight']:g} chosen on {len(inst)} val searches" in line
    assert "shop.hybrid_weight = 0.25" in line


def test_hybrid_scorer_at_the_extreme_weights(data, monkeypatch):
    inst = data.search_eval["test"]
    n_items = len(data.catalog)
    dense = noise(len(inst), n_items, 2)
    monkeypatch.setattr(scorers, "model_scorer", lambda d, m: lambda i: dense[: len(i)])
    lexical = catalog_lexical_index(data)
    fused = hybrid_scorer(data, None, lexical, 0.0, depth=20)(inst)
    np.testing.assert_array_equal(
        top_k(fused, 20, exclude_all=[0]), top_k(dense, 20, exclude_all=[0])
    )
    fused = hybrid_scorer(data, None, lexical, 1.0, depth=20)(inst)
    bm25 = lexical.scores(list(inst["query"]))
    assert ((fused > 0) == (bm25 > 0)).all()  # only matching items are lexical candidates
    assert hybrid_scorer(data, None, lexical, 0.5)(inst.iloc[:0]).shape == (0, n_items)


def test_bad_arguments_and_missing_splits(data):
    lexical = catalog_lexical_index(data)
    with pytest.raises(ValueError, match="metric must be ndcg@K, recall@K, hitrate@K or mrr"):
        choose_fusion_weight(data, None, lexical, metric="ndcg")
    with pytest.raises(ValueError, match="weight=2"):
        choose_fusion_weight(data, None, lexical, weights=(0.0, 2))
    with pytest.raises(ValueError, match="weight=-1"):
        hybrid_scorer(data, None, lexical, -1)
    fusion = choose_fusion_weight(data, None, lexical, split="none", fallback=0.3)
    assert fusion == {
        "split": "none",
        "metric": "ndcg@10",
        "instances": 0,
        "depth": 200,
        "weight": 0.3,
        "chosen": False,
        "grid": [],
    }
    assert "no none searches" in fusion_summary(fusion)
