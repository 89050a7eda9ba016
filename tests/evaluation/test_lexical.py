"""BM25 over item documents."""

from tfrec.evaluation.lexical import BM25


def test_bm25_prefers_matching_documents():
    bm25 = BM25(["", "red running shoes", "blue frying pan", "red pan"])
    s = bm25.scores("red shoes")
    assert s.argmax() == 1
    assert s[2] == 0
