"""Diversity: maximal marginal relevance (MMR) re-ranking and the measures it trades against.

MMR picks, one at a time, the candidate maximising
    lambda * relevance(i) - (1 - lambda) * max_{j already picked} cos(i, j),
with relevance min-max scaled to [0, 1] within the candidate list so `lambda` means the same for
every list: 1.0 keeps the relevance order, 0.0 picks the most dissimilar items.

References:
    Carbonell and Goldstein, "The use of MMR, diversity-based reranking for reordering documents
    and producing summaries", SIGIR 1998.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mmr_rerank(
    candidates: np.ndarray,
    relevance: np.ndarray,
    embeddings: np.ndarray,
    k: int,
    lambda_: float = 0.8,
) -> np.ndarray:
    """The first `k` of `candidates` in MMR order.

    Args:
        candidates: [C] item rows.
        relevance: [C] their relevance scores (any scale).
        embeddings: [N, D] L2-normalised item embeddings.
        k: int. How many to return.
        lambda_: float in [0, 1]. Weight of relevance against novelty. Defaults to 0.8.
    """
    if not 0.0 <= lambda_ <= 1.0:
        raise ValueError(f"`lambda_` must be in [0, 1]. Received: lambda_={lambda_}")
    candidates = np.asarray(candidates, np.int64)
    relevance = np.asarray(relevance, np.float64)
    if len(candidates) != len(relevance):
        raise ValueError(
            f"candidates and relevance differ in length: {len(candidates)} != {len(relevance)}"
        )
    k = min(k, len(candidates))
    if k == 0:
        return candidates[:0]
    if lambda_ == 1.0:
        return candidates[np.argsort(-relevance, kind="stable")[:k]]
    span = relevance.max() - relevance.min()
    rel = (relevance - relevance.min()) / span if span > 0 else np.ones_like(relevance)
    emb = embeddings[candidates]
    sims = emb @ emb.T
    picked = [int(np.argmax(rel))]
    max_sim = sims[picked[0]].copy()
    available = np.ones(len(candidates), bool)
    available[picked[0]] = False
    while len(picked) < k:
        value = lambda_ * rel - (1 - lambda_) * max_sim
        value[~available] = -np.inf
        nxt = int(np.argmax(value))
        picked.append(nxt)
        available[nxt] = False
        max_sim = np.maximum(max_sim, sims[nxt])
    return candidates[picked]


def intra_list_diversity(lists: Sequence[np.ndarray], embeddings: np.ndarray) -> float:
    """Mean over lists of the mean pairwise cosine distance (1 - cos) between their items."""
    values = []
    for items in lists:
        items = np.asarray(items, np.int64)
        if len(items) < 2:
            continue
        emb = embeddings[items]
        sims = emb @ emb.T
        n = len(items)
        values.append(float((n * n - sims.sum()) / (n * (n - 1))))
    return float(np.mean(values)) if values else 0.0


def category_diversity(lists: Sequence[np.ndarray], leaf_idx: np.ndarray) -> float:
    """Mean share of distinct leaf categories per list (1.0: every item from its own category)."""
    values = [len(np.unique(leaf_idx[np.asarray(x)])) / len(x) for x in lists if len(x)]
    return float(np.mean(values)) if values else 0.0


def catalog_coverage(lists: Sequence[np.ndarray], num_items: int) -> float:
    """Share of the catalog (padding excluded) that appears in at least one list."""
    if not len(lists):
        return 0.0
    shown = np.unique(np.concatenate([np.asarray(x, np.int64) for x in lists]))
    shown = shown[shown > 0]
    return float(len(shown) / max(num_items - 1, 1))
