import numpy as np
import pytest

from tfrec.evaluation.lexical import BM25
from tfrec.evaluation.metrics import ranking_metrics
from tfrec.core.topk import top_k


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


def test_report_pages_link_to_each_other(tmp_path):
    from tfrec.report.links import link_report_pages

    (tmp_path / "index.html").write_text("<html><body><h1>a</h1></body></html>")
    (tmp_path / "shop.html").write_text("<html><body><h1>b</h1></body></html>")
    link_report_pages(tmp_path)
    (tmp_path / "ranking.html").write_text("<html><body><h1>c</h1></body></html>")
    pages = link_report_pages(tmp_path)  # a later stage: the bar is replaced, not repeated
    assert [p.name for p in pages] == ["index.html", "ranking.html", "shop.html"]
    for page in pages:
        text = page.read_text()
        assert text.count("<nav") == 1
        assert "href='ranking.html'" in text and "href='shop.html'" in text
