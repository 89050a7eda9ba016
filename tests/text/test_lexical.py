"""LexicalIndex (BM25 on bm25s): scores against the formula by hand, batches, empty and unknown
queries, the padding row, Unicode tokenization."""

import math

import numpy as np
import pytest

from tfrec.text.lexical import LexicalIndex, item_documents, tokenize

DOCS = ["", "red running shoes", "blue frying pan", "red pan"]


def bm25(tf, df, length, n=3, avg=8 / 3, k1=1.2, b=0.75):
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf / (tf + k1 * (1 - b + b * length / avg))


def test_scores_follow_the_bm25_formula_by_hand():
    index = LexicalIndex(DOCS)
    s = index.scores(["red shoes", "pan pan", "frying"])
    assert s.shape == (3, 4) and s.dtype == np.float32
    # the padding row is not a document: N = 3, mean length 8/3
    want = [
        [0, bm25(1, 2, 3) + bm25(1, 1, 3), 0, bm25(1, 2, 2)],
        [0, 0, bm25(1, 2, 3), bm25(1, 2, 2)],  # a repeated query term counts once
        [0, 0, bm25(1, 1, 3), 0],
    ]
    np.testing.assert_allclose(s, want, rtol=1e-6)
    assert s[0].argmax() == 1


def test_term_frequency_and_length_matter():
    index = LexicalIndex(["", "mug mug mug", "mug", "mug with a very long description of it"])
    s = index.scores("mug")
    assert s[1] > s[2] > s[3] > 0


def test_one_string_gives_one_row_and_batches_agree():
    index = LexicalIndex(DOCS)
    np.testing.assert_array_equal(index.scores("red pan"), index.scores(["x", "red pan"])[1])


def test_empty_and_unknown_queries_score_nothing():
    index = LexicalIndex(DOCS)
    assert not index.scores(["", "   ", "!!", "purple"]).any()
    rows, scores = index.top(["", "purple"], k=3)
    assert rows.tolist() == [[0, 0, 0], [0, 0, 0]] and not scores.any()
    assert index.scores([]).shape == (0, 4)


def test_padding_row_is_never_indexed_nor_returned():
    # a padding row holding text is still not a document
    index = LexicalIndex(["red red red", "red running shoes", "blue frying pan", "red pan"])
    np.testing.assert_allclose(index.scores("red"), LexicalIndex(DOCS).scores("red"))
    rows, scores = index.top(["red", "blue"], k=10)
    assert rows.shape == (2, 3)  # k is clamped to the 3 real items
    assert rows[0].tolist() == [3, 1, 0] and rows[1].tolist() == [2, 0, 0]
    assert scores[0, 2] == 0 and scores[1, 1:].tolist() == [0, 0]


def test_top_orders_by_score_then_row():
    index = LexicalIndex(["", "pan", "red pan", "pan", "blue"])
    rows, scores = index.top("pan", k=3)
    assert rows.tolist() == [1, 3, 2]  # rows 1 and 3 tie: the lower row first
    assert scores[0] == scores[1] > scores[2] > 0


def test_unicode_is_tokenized_the_same_for_documents_and_queries():
    assert tokenize("Crème Brûlée SET, 2-pack") == ["creme", "brulee", "set", "2", "pack"]
    assert tokenize("Straße") == ["strasse"]
    assert tokenize("東京 タワー") == ["東京", "タワー"]
    assert tokenize("snake_case") == ["snake", "case"]
    index = LexicalIndex(["", "Café au lait bowl", "東京 タワー mug", "tea cup"])
    assert index.top("CAFE", k=1)[0].tolist() == [1]
    assert index.top("cafe\u0301", k=1)[0].tolist() == [1]  # e + combining acute
    assert index.top("東京", k=1)[0].tolist() == [2]


def test_empty_catalogs():
    assert LexicalIndex([""]).scores(["red"]).tolist() == [[0.0]]
    rows, _ = LexicalIndex(["", "", "..."]).top("red", k=2)
    assert rows.tolist() == [0, 0]


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="b in \\[0, 1\\]; got k1=1.2, b=2"):
        LexicalIndex(DOCS, b=2)


def test_item_documents_join_text_category_and_brand():
    assert item_documents(["", "red mug"], ["", "Home > Mugs"], ["", "Acme"]) == [
        "",
        "red mug Home > Mugs Acme",
    ]
    assert item_documents(["", "red mug"], [], []) == ["", "red mug"]
