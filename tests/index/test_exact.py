"""Exact search and recall: the exact top-k is the numpy reference (ties to the lower row, as
`tfrec.core.topk.top_k`), recall counts tied neighbours when given the scores."""

import numpy as np

from tfrec.index.exact import exact_top_k, recall_against, synthetic_queries


def test_exact_top_k_is_the_sorted_dot_product_in_chunks():
    rng = np.random.default_rng(0)
    db = rng.normal(size=(50, 8)).astype(np.float32)
    queries = synthetic_queries(db, 300, seed=1)  # more than one chunk of 256 rows
    assert queries.shape == (300, 8) and np.allclose(np.linalg.norm(queries, axis=1), 1, atol=1e-5)
    got = exact_top_k(db, queries, 5)
    want = np.argsort(-(queries @ db.T), axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(got, want)
    assert exact_top_k(db, queries[:2], 80).shape == (2, 50)  # k clamped to the catalog


def test_exact_top_k_breaks_ties_to_the_lower_row():
    db = np.array([[0, 1], [1, 0], [1, 0], [0.5, 0.5]], np.float32)
    assert exact_top_k(db, np.array([[1, 0]], np.float32), 3).tolist() == [[1, 2, 3]]


def test_recall_counts_tied_neighbours():
    db = np.array([[1, 0], [1, 0], [0, 1], [0.5, 0.5]], np.float32)  # items 0 and 1 tie
    q = np.array([[1, 0]], np.float32)
    exact = np.array([[0]])
    assert recall_against(np.array([[1]]), exact) == 0.0  # by position: a miss
    assert recall_against(np.array([[1]]), exact, q, db) == 1.0  # by score: the same item
    assert recall_against(np.array([[3]]), exact, q, db) == 0.0
