"""Ranking metrics over whole-catalog rankings: Recall@K, NDCG@K, HitRate@K, MRR and Recall@K
curves (graded gains, log2 discount, normalised by the ideal ordering of the relevant items)."""

from __future__ import annotations

import numpy as np


def ranking_metrics(
    ranked: np.ndarray, positives: list[np.ndarray], gains: list[np.ndarray], ks: list[int]
) -> dict[str, float]:
    """Mean Recall@K, NDCG@K, HitRate@K over instances, and MRR within the top max(ks)."""
    if len(positives) == 0:
        return {}
    per = per_instance_metrics(ranked, positives, gains, ks)
    return {key: float(values.mean()) for key, values in per.items()}


def per_instance_metrics(
    ranked: np.ndarray, positives: list[np.ndarray], gains: list[np.ndarray], ks: list[int]
) -> dict[str, np.ndarray]:
    """`ranking_metrics` per instance: each metric as an array with one value per row (for
    paired comparisons and bootstrap intervals)."""
    n = len(positives)
    out = {f"{m}@{k}": np.zeros(n) for k in ks for m in ("recall", "hitrate", "ndcg")}
    out["mrr"] = np.zeros(n)
    discounts = 1.0 / np.log2(np.arange(2, ranked.shape[1] + 2))
    for row in range(n):
        gain_of = dict(zip(np.asarray(positives[row]).tolist(), np.asarray(gains[row]).tolist()))
        hits = np.array([gain_of.get(int(i), 0.0) for i in ranked[row]])
        relevant = hits > 0
        ideal = np.sort(np.asarray(gains[row], dtype=np.float64))[::-1]
        for k in ks:
            top = relevant[:k]
            out[f"recall@{k}"][row] = top.sum() / len(gain_of)
            out[f"hitrate@{k}"][row] = float(top.any())
            dcg = float((hits[:k] * discounts[:k]).sum())
            m = min(k, len(ideal))
            idcg = float((ideal[:m] * discounts[:m]).sum())
            out[f"ndcg@{k}"][row] = dcg / idcg if idcg > 0 else 0.0
        first = np.flatnonzero(relevant)
        out["mrr"][row] = 1.0 / (first[0] + 1) if len(first) else 0.0
    return out


def recall_curve(ranked: np.ndarray, positives: list[np.ndarray], max_k: int) -> np.ndarray:
    """Mean Recall@k for k = 1..max_k."""
    curve = np.zeros(max_k)
    for row, pos in enumerate(positives):
        hits = np.zeros(max_k)
        top = ranked[row, :max_k]
        hits[: len(top)] = np.isin(top, pos)
        curve += np.cumsum(hits) / len(pos)
    return curve / max(len(positives), 1)


