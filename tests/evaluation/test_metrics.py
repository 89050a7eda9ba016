"""Evaluation metrics, checked by hand: whole-catalog ranking metrics, the one NDCG, AUC, GAUC
and the bootstrap intervals."""

import numpy as np
import pytest

from tfrec.evaluation.metrics import (
    auc,
    bootstrap_auc_difference,
    bootstrap_interval,
    calibration_bins,
    gauc,
    log_loss,
    ndcg,
    ndcg_at,
    ndcg_per_instance,
    ranking_metrics,
)


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


def test_metric_arithmetic():
    y = np.array([1, 0, 1, 0])
    assert auc(y, np.array([0.9, 0.1, 0.8, 0.2])) == 1.0
    assert auc(y, np.array([0.1, 0.9, 0.2, 0.8])) == 0.0
    assert auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert np.isnan(auc(np.ones(3), np.arange(3)))
    # group a: perfect (4 rows); group b: inverted (2 rows); group c: one class only (skipped)
    y = np.array([1, 0, 1, 0, 1, 0, 1])
    s = np.array([0.9, 0.1, 0.8, 0.2, 0.1, 0.9, 0.5])
    g = np.array(["a", "a", "a", "a", "b", "b", "c"])
    assert gauc(y, s, g) == pytest.approx((1.0 * 4 + 0.0 * 2) / 6)
    assert ndcg_at([np.array([3.0, 1.0, 0.0])], 10) == 1.0
    assert ndcg_at([np.array([0.0, 3.0])], 10) == pytest.approx(1 / np.log2(3))
    assert np.isnan(ndcg_at([np.zeros(3)], 10))
    ranked = np.array([[5, 6, 7], [7, 6, 5]])
    per = ndcg_per_instance(ranked, [np.array([5]), np.array([5])], [np.ones(1), np.ones(1)], 10)
    np.testing.assert_allclose(per, [1.0, 0.5])
    # the per-search terms average to the NDCG of `ranking_metrics`
    rng = np.random.default_rng(0)
    ranked = np.stack([rng.permutation(30) for _ in range(20)])
    positives = [rng.choice(30, size=3, replace=False) for _ in range(20)]
    gains = [rng.integers(1, 4, size=3).astype(float) for _ in range(20)]
    want = ranking_metrics(ranked, positives, gains, [10])["ndcg@10"]
    assert ndcg_per_instance(ranked, positives, gains, 10).mean() == pytest.approx(want)


def test_bootstrap_intervals():
    lo, hi = bootstrap_interval(np.r_[np.zeros(50), np.ones(50)], reps=500, seed=0)
    assert lo < 0.5 < hi and hi - lo < 0.3
    assert bootstrap_interval(np.full(20, 0.25)) == (0.25, 0.25)
    assert all(np.isnan(bootstrap_interval(np.array([]))))
    # identical scores: no difference, and no spread; a better score: an interval above 0
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(200), 5)
    y = (rng.random(1000) < 0.3).astype(float)
    noise = rng.normal(size=1000)
    assert bootstrap_auc_difference(y, noise, noise, groups, reps=50) == (0.0, 0.0, 0.0)
    diff, lo, hi = bootstrap_auc_difference(y, y + noise, noise, groups, reps=50)
    assert 0 < lo <= diff <= hi


def test_one_ndcg_for_catalog_rankings_and_gain_lists():
    # the gains of a ranked list, and the ideal from the relevant items' gains
    want = (3 / np.log2(3)) / (3 + 1 / np.log2(3))
    assert ndcg([0.0, 3.0, 1.0], [3.0, 1.0], 2) == pytest.approx(want)
    assert np.isnan(ndcg([0.0, 0.0], [], 10)) and np.isnan(ndcg([0.0], [0.0], 10))
    # more relevant items than ranked positions: the ideal still counts k of them
    assert ndcg([2.0], [2.0, 2.0], 2) == pytest.approx(2 / (2 + 2 / np.log2(3)))
    # ranking_metrics' NDCG and ndcg_at agree on the same list
    ranked = np.array([[4, 9, 2, 7]])
    m = ranking_metrics(ranked, [np.array([2, 4])], [np.array([1.0, 3.0])], [3])
    assert m["ndcg@3"] == pytest.approx(ndcg_at([np.array([3.0, 0.0, 1.0, 0.0])], 3))
    # a row with no relevant item scores 0 in per-instance metrics, and is skipped by ndcg_at
    assert ndcg_per_instance(ranked, [np.array([2])], [np.zeros(1)], 3).tolist() == [0.0]
    assert ndcg_at([np.zeros(3), np.array([1.0, 0.0])], 3) == 1.0


def test_log_loss_and_calibration_bins():
    assert log_loss(np.array([1, 0]), np.array([0.5, 0.5])) == pytest.approx(np.log(2))
    assert log_loss(np.array([1]), np.array([1.0])) == pytest.approx(-np.log(1 - 1e-7))
    y = np.r_[np.zeros(50), np.ones(50)]
    p = np.linspace(0, 1, 100)
    bins = calibration_bins(y, p, bins=4)
    assert bins["n"].tolist() == [25, 25, 25, 25]
    assert bins["observed"].tolist() == [0.0, 0.0, 1.0, 1.0]
    np.testing.assert_allclose(
        bins["predicted"], [p[i * 25 : (i + 1) * 25].mean() for i in range(4)]
    )
