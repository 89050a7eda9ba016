"""Evaluation metrics.

- Ranking metrics over whole-catalog rankings: Recall@K, NDCG@K, HitRate@K, MRR and Recall@K
  curves (graded gains, log2 discount, normalised by the ideal ordering of the relevant items);
  `ndcg` is the one NDCG computation every caller uses.
- Click prediction: AUC, LogLoss, group AUC, calibration bins.
- Uncertainty: percentile-bootstrap intervals of a mean and of an AUC difference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def ndcg(gains_in_ranked_order, ideal_gains, k: int) -> float:
    """NDCG@k of one ranking: the DCG of the first `k` gains (log2 discount) over the DCG of
    the `k` largest `ideal_gains`; NaN when the ideal DCG is 0 (nothing relevant).

    Args:
        gains_in_ranked_order: array-like. The gain of each ranked item, best-ranked first.
        ideal_gains: array-like. The gains of every relevant item (any order).
        k: int. The cutoff.

    Example:
        >>> round(ndcg([0.0, 3.0], [3.0], 10), 4)
        0.6309
    """
    top = np.asarray(gains_in_ranked_order, dtype=np.float64)[:k]
    ideal = np.sort(np.asarray(ideal_gains, dtype=np.float64))[::-1][:k]
    discounts = 1.0 / np.log2(np.arange(2, max(len(top), len(ideal)) + 2))
    idcg = float((ideal * discounts[: len(ideal)]).sum())
    if not idcg > 0:
        return float("nan")
    return float((top * discounts[: len(top)]).sum()) / idcg


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
    for row in range(n):
        gain_of = dict(zip(np.asarray(positives[row]).tolist(), np.asarray(gains[row]).tolist()))
        hits = np.array([gain_of.get(int(i), 0.0) for i in ranked[row]])
        relevant = hits > 0
        for k in ks:
            top = relevant[:k]
            out[f"recall@{k}"][row] = top.sum() / len(gain_of)
            out[f"hitrate@{k}"][row] = float(top.any())
            value = ndcg(hits, gains[row], k)
            out[f"ndcg@{k}"][row] = 0.0 if np.isnan(value) else value
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


def ndcg_per_instance(
    ranked: np.ndarray, positives: list[np.ndarray], gains: list[np.ndarray], k: int
) -> np.ndarray:
    """NDCG@k of every instance (the per-instance terms `ranking_metrics` averages).

    Args:
        ranked: np.ndarray [n, C]. Item indices, best first, per instance.
        positives: list of np.ndarray. The relevant items of each instance.
        gains: list of np.ndarray. Their gains.
        k: int. The cutoff.

    Example:
        >>> ranked = np.array([[5, 6, 7], [7, 6, 5]])
        >>> ndcg_per_instance(ranked, [np.array([5])] * 2, [np.ones(1)] * 2, 10).tolist()
        [1.0, 0.5]
    """
    return per_instance_metrics(ranked, positives, gains, [k])[f"ndcg@{k}"]


def ndcg_at(order_gains: list[np.ndarray], k: int) -> float:
    """Mean NDCG@k of lists of gains in ranked order (ideal = the same gains sorted); lists
    with nothing relevant are left out (NaN when no list has a gain).

    Args:
        order_gains: list of np.ndarray. The gains of each list's items, in ranked order.
        k: int. The cutoff.

    Example:
        >>> ndcg_at([np.array([3.0, 1.0, 0.0]), np.zeros(2)], 10)
        1.0
    """
    values = [ndcg(gains, gains, k) for gains in order_gains]
    values = [v for v in values if not np.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties counted half); NaN when only one class occurs.

    Args:
        labels: np.ndarray [n]. 1 (or > 0) for positives.
        scores: np.ndarray [n]. Higher = more likely positive.

    Example:
        >>> auc(np.array([1, 0, 1, 0]), np.array([0.9, 0.1, 0.8, 0.2]))
        1.0
    """
    labels = np.asarray(labels) > 0
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = pd.Series(np.asarray(scores, np.float64)).rank().to_numpy()
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean binary cross-entropy of probabilities `probs` (clipped to [1e-7, 1 - 1e-7]).

    Args:
        labels: np.ndarray [n]. 0/1 labels.
        probs: np.ndarray [n]. Predicted probabilities of label 1.

    Example:
        >>> round(log_loss(np.array([1, 0]), np.array([0.5, 0.5])), 4)
        0.6931
    """
    p = np.clip(np.asarray(probs, np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(labels, np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def gauc(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> float:
    """Group AUC: the AUC within each group that has both classes, averaged with the group's
    number of impressions as weight (groups with one class only are skipped).

    Args:
        labels: np.ndarray [n]. 0/1 labels.
        scores: np.ndarray [n]. Scores.
        groups: np.ndarray [n]. The group (query, user) of each row.

    Example:
        >>> y, s = np.array([1, 0, 0, 1]), np.array([0.9, 0.1, 0.9, 0.1])
        >>> gauc(y, s, np.array(["a", "a", "b", "b"]))
        0.5
    """
    frame = pd.DataFrame({"y": labels, "s": scores, "g": groups})
    total, weight = 0.0, 0
    for _, g in frame.groupby("g", sort=False):
        value = auc(g["y"].to_numpy(), g["s"].to_numpy())
        if not np.isnan(value):
            total += value * len(g)
            weight += len(g)
    return total / weight if weight else float("nan")


def bootstrap_interval(values: np.ndarray, reps: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of per-instance `values` (paired
    differences: the instances are resampled with replacement, `reps` times).

    Args:
        values: np.ndarray [n]. One value per instance.
        reps: int. Bootstrap resamples.
        seed: int. Seed of the resampling.

    Example:
        >>> bootstrap_interval(np.full(20, 0.25))
        (0.25, 0.25)
    """
    values = np.asarray(values, np.float64)
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (reps, len(values)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def bootstrap_auc_difference(
    labels: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    groups: np.ndarray,
    reps: int = 200,
    seed: int = 0,
) -> tuple[float, float, float]:
    """AUC(a) - AUC(b) on the same rows, and its 95% interval from a paired cluster bootstrap:
    whole groups (searches) are resampled with replacement, so rows of one search stay
    together (their clicks are not independent).

    Args:
        labels: np.ndarray [n]. 0/1 labels.
        a: np.ndarray [n]. Scores of the first model.
        b: np.ndarray [n]. Scores of the second model, same rows.
        groups: np.ndarray [n]. The cluster (search) of each row.
        reps: int. Bootstrap resamples.
        seed: int. Seed of the resampling.

    Example:
        >>> y = np.array([1.0, 0.0] * 10)
        >>> s = np.arange(20.0)
        >>> bootstrap_auc_difference(y, s, s, np.arange(20) // 2, reps=20)
        (0.0, 0.0, 0.0)
    """
    labels = np.asarray(labels) > 0
    diff = auc(labels, a) - auc(labels, b)
    codes, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(len(codes)))
    sizes = np.diff(np.append(starts, len(order)))
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(reps):
        pick = rng.integers(0, len(codes), len(codes))
        rows = order[np.repeat(starts[pick], sizes[pick]) + _ragged_offsets(sizes[pick])]
        diffs.append(auc(labels[rows], a[rows]) - auc(labels[rows], b[rows]))
    lo, hi = np.nanpercentile(diffs, [2.5, 97.5])
    return float(diff), float(lo), float(hi)


def _ragged_offsets(sizes: np.ndarray) -> np.ndarray:
    """[0..s0-1, 0..s1-1, ...] for group sizes s."""
    ends = np.cumsum(sizes)
    return np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - sizes, sizes)


def calibration_bins(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed rate in quantile bins of the prediction.

    Args:
        labels: np.ndarray [n]. 0/1 labels.
        probs: np.ndarray [n]. Predicted probabilities.
        bins: int. Number of equal-count bins.

    Example:
        >>> t = calibration_bins(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.7, 0.9]), bins=2)
        >>> t["observed"].tolist()
        [0.0, 1.0]
    """
    frame = pd.DataFrame({"y": labels, "p": probs})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), bins, labels=False)
    return frame.groupby("bin").agg(
        predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size")
    )
