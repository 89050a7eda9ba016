import numpy as np
import pytest

from tfrec.evaluation import BM25, ranking_metrics, top_k


def test_top_k_orders_and_excludes():
    scores = np.array([[9.0, 1.0, 5.0, 3.0, 4.0]])
    assert top_k(scores, 3).tolist() == [[2, 4, 3]]  # row 0 is padding, never ranked
    assert top_k(scores, 2, exclude=[np.array([2])]).tolist() == [[4, 3]]


def test_ranking_metrics_by_hand():
    ranked = np.array([[5, 3, 7, 1]])
    positives = [np.array([3, 1])]
    gains = [np.array([1.0, 3.0])]
    m = ranking_metrics(ranked, positives, gains, [2, 4])
    assert m["recall@2"] == pytest.approx(0.5)
    assert m["recall@4"] == pytest.approx(1.0)
    assert m["hitrate@2"] == 1.0
    assert m["mrr"] == pytest.approx(0.5)
    dcg = 1 / np.log2(3) + 3 / np.log2(5)
    idcg = 3 / np.log2(2) + 1 / np.log2(3)
    assert m["ndcg@4"] == pytest.approx(dcg / idcg)


def test_bm25_prefers_matching_documents():
    bm25 = BM25(["", "red running shoes", "blue frying pan", "red pan"])
    s = bm25.scores("red shoes")
    assert s.argmax() == 1
    assert s[2] == 0
