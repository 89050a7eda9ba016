import numpy as np
import pytest

from tfrec.shop.diversity import catalog_coverage, intra_list_diversity, mmr_rerank

EMB = np.array([[0, 0], [1, 0], [0.99, 0.141], [0, 1]], np.float32)


def test_lambda_one_keeps_the_relevance_order():
    out = mmr_rerank(np.array([1, 2, 3]), np.array([0.9, 0.8, 0.1]), EMB, 3, 1.0)
    assert out.tolist() == [1, 2, 3]


def test_low_lambda_prefers_the_dissimilar_item():
    out = mmr_rerank(np.array([1, 2, 3]), np.array([0.9, 0.8, 0.1]), EMB, 2, 0.3)
    assert out.tolist() == [1, 3]


def test_measures():
    assert intra_list_diversity([np.array([1, 3])], EMB) == pytest.approx(1.0)
    assert intra_list_diversity([np.array([1, 1])], EMB) == pytest.approx(0.0)
    assert catalog_coverage([np.array([1, 2]), np.array([2])], 4) == pytest.approx(2 / 3)


def test_bad_lambda():
    with pytest.raises(ValueError, match="lambda_"):
        mmr_rerank(np.array([1]), np.array([1.0]), EMB, 1, 1.5)
