"""The one top-k: order, ties, exclusions and the clamping of k."""

import numpy as np
import pytest

from tfrec.core.topk import top_k


def test_orders_and_excludes():
    scores = np.array([[9.0, 1.0, 5.0, 3.0, 4.0]])
    assert top_k(scores, 3, exclude_all=[0]).tolist() == [[2, 4, 3]]  # column 0 never ranked
    assert top_k(scores, 2, exclude=[np.array([2])], exclude_all=[0]).tolist() == [[4, 3]]
    assert top_k(scores, 2).tolist() == [[0, 2]]


def test_ties_go_to_the_lower_index_in_every_row():
    scores = np.array([[1.0, 2.0, 2.0, 2.0, 0.5], [3.0, 3.0, 1.0, 3.0, 3.0]])
    assert top_k(scores, 3).tolist() == [[1, 2, 3], [0, 1, 3]]
    assert top_k(scores[0], 4).tolist() == [1, 2, 3, 0]


def test_one_dimensional_scores_and_finite_only():
    scores = np.array([0.1, -np.inf, 0.5, 0.3])
    assert top_k(scores, 10).tolist() == [2, 3, 0, 1]  # k clamped to the columns
    assert top_k(scores, 10, finite_only=True).tolist() == [2, 3, 0]
    assert top_k(scores, 10, exclude=np.array([2]), finite_only=True).tolist() == [3, 0]
    assert top_k(scores, 0).tolist() == []


def test_agrees_with_a_full_stable_sort_on_random_scores():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 20, size=(50, 300)).astype(float)  # many ties
    got = top_k(scores, 25)
    for row, s in enumerate(scores):
        np.testing.assert_array_equal(got[row], np.argsort(-s, kind="stable")[:25])
    assert top_k(scores[3], 7).tolist() == np.argsort(-scores[3], kind="stable")[:7].tolist()


def test_finite_only_needs_one_row():
    with pytest.raises(ValueError, match="1-D"):
        top_k(np.zeros((2, 3)), 1, finite_only=True)


def test_finite_only_equals_the_full_ranking_cut_at_the_finite_items():
    # the finite-only path looks at the finite scores alone (an index-scored catalog of
    # millions has a few hundred); ties, exclusions and the cut are those of the full ranking
    rng = np.random.default_rng(3)
    for trial in range(50):
        n = int(rng.integers(1, 400))
        scores = np.full(n, -np.inf, np.float32)
        finite = rng.choice(n, size=int(rng.integers(0, n + 1)), replace=False)
        scores[finite] = rng.integers(0, 5, size=len(finite))  # many ties
        exclude = rng.choice(n, size=int(rng.integers(0, 5)), replace=True)
        k = int(rng.integers(0, 30))
        got = top_k(scores, k, exclude=exclude, exclude_all=[0], finite_only=True)
        masked = scores.astype(np.float64)
        masked[[0, *exclude.tolist()]] = -np.inf
        want = [i for i in top_k(masked, n) if np.isfinite(masked[i])][:k]
        assert got.tolist() == want, trial
        assert got.dtype == np.int64
