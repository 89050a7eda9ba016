"""Exact search, the reference every index is measured against: the exact top-k by dot
product, recall of an approximate top-k against it, queries near catalog items when a run has
none, and recall plus queries/s of an index against exact numpy search."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np

from tfrec.core.topk import top_k
from tfrec.index.params import RECALL_K

if TYPE_CHECKING:
    from tfrec.index.scann_index import ItemIndex


def exact_top_k(embeddings: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row positions of the exact top-k by dot product (the brute-force reference).

    Args:
        embeddings: `[N, D]` float32 item embeddings.
        queries: `[B, D]` float32 query embeddings.
        k: neighbours per query (clamped to N).

    Returns:
        `[B, min(k, N)]` int64 row positions, best first (ties to the lower row, `top_k`).

    Example:
    ```python
    exact = exact_top_k(item_embeddings, query_embeddings, 10)  # [B, 10]
    ```
    """
    k = min(k, len(embeddings))
    out = np.empty((len(queries), k), dtype=np.int64)
    rows = max(1, min(256, (1 << 23) // max(len(embeddings), 1)))  # <= 64 MiB of float64 scores
    for start in range(0, len(queries), rows):
        scores = queries[start : start + rows] @ embeddings.T
        out[start : start + rows] = top_k(scores, k)
    return out


def recall_against(
    approx: np.ndarray,
    exact: np.ndarray,
    queries: np.ndarray | None = None,
    embeddings: np.ndarray | None = None,
) -> float:
    """Mean share of the exact top-k found in the approximate top-k. Given the `queries` and
    `embeddings`, ties count: an approximate neighbour scoring at least the k-th exact score is
    a hit (items with identical embeddings are interchangeable).

    Args:
        approx: `[B, >= k]` row positions an index returned.
        exact: `[B, k]` row positions of the exact top-k (`exact_top_k`).
        queries: `[B, D]` the queries, to count ties by score (optional).
        embeddings: `[N, D]` the items, to count ties by score (optional).

    Returns:
        recall@k in [0, 1] (0.0 for no queries).

    Example:
    ```python
    recall_against(np.array([[1, 2]]), np.array([[2, 3]]))  # 0.5
    ```
    """
    k = exact.shape[1]
    if queries is None or embeddings is None:
        hits = [
            len(set(a[:k].tolist()) & set(e.tolist())) for a, e in zip(approx, exact, strict=True)
        ]
        return float(np.mean(hits) / k) if hits else 0.0
    hits = []
    for q, a, e in zip(queries, approx, exact, strict=True):
        kth = float(embeddings[e[-1]] @ q)
        scores = embeddings[np.unique(a[:k])] @ q
        hits.append(min(k, int(np.sum(scores >= kth - 1e-6))))
    return float(np.mean(hits) / k) if hits else 0.0


def synthetic_queries(embeddings: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Queries near catalog items (an item plus noise, normalised), when no real ones exist.

    Args:
        embeddings: `[N, D]` item embeddings.
        n: how many queries.
        seed: the random seed.

    Returns:
        `[n, D]` float32 unit vectors.

    Example:
    ```python
    queries = synthetic_queries(item_embeddings, 1000, seed=0)
    ```
    """
    rng = np.random.default_rng(seed)
    base = embeddings[rng.integers(0, len(embeddings), n)]
    q = base + rng.normal(scale=0.5 / math.sqrt(embeddings.shape[1]) * 4, size=base.shape)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def compare_with_brute_force(index: ItemIndex, queries: np.ndarray, k: int = RECALL_K) -> dict:
    """Recall@k and single-query throughput of `index` against exact numpy search.

    Args:
        index: the `ItemIndex` or `DeviceIndex` to measure.
        queries: `[B, D]` query embeddings.
        k: neighbours per query.

    Returns:
        `{"recall_at_10", "index_qps", "brute_force_qps", "speedup"}`.

    Example:
    ```python
    res = compare_with_brute_force(ItemIndex.load(run.index), queries)
    res["recall_at_10"], res["speedup"]
    ```
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    exact = exact_top_k(index.embeddings, queries, k)
    recall = index.recall(queries, exact, k)

    def qps(fn) -> float:
        t0 = time.perf_counter()
        for q in queries:
            fn(q[None])
        return len(queries) / (time.perf_counter() - t0)

    index_qps = qps(lambda q: index.search_positions(q, k))
    bf_qps = qps(lambda q: exact_top_k(index.embeddings, q, k))
    return {
        "recall_at_10": recall,
        "index_qps": index_qps,
        "brute_force_qps": bf_qps,
        "speedup": index_qps / bf_qps,
    }
