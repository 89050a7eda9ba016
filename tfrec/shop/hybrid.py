"""Hybrid retrieval: reciprocal-rank fusion (RRF) of lexical (BM25) and dense (two-tower)
candidates, shared by the evaluation (`hybrid` scorer), the shop's `search` and the server's
`/search?retriever=hybrid`.

Each retriever contributes its top `depth` items; an item's fused score is

    (1 - weight) / (k + rank_dense) + weight / (k + rank_lexical)

with 1-based ranks and `k` = 60 (Cormack et al., 2009); an item missing from a list gets
nothing from it, and lexical candidates are only items that match a query term. `weight` 0 is
the dense order, 1 the BM25 order (over their top `depth`); the evaluation chooses it on the
validation searches (`tfrec.evaluation.scorers.choose_fusion_weight`). Ranks, not scores, are
fused, so the two scales (cosine, BM25) need no calibration.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfrec.core.topk import top_k

PAD = 0
RRF_K = 60
RETRIEVERS = ("dense", "hybrid")


def check_retriever(retriever: str) -> str:
    """`retriever` when it is one of `RETRIEVERS`; a ValueError naming the parameter otherwise."""
    if retriever not in RETRIEVERS:
        raise ValueError(
            f"retriever must be one of {', '.join(RETRIEVERS)}; got retriever={retriever!r}"
        )
    return retriever


def check_weight(weight: float) -> float:
    if not 0.0 <= weight <= 1.0:  # NaN fails too
        raise ValueError(f"the fusion weight must be in [0, 1]; got weight={weight!r}")
    return float(weight)


def ranked_candidates(scores: np.ndarray, depth: int, matched_only: bool = False) -> np.ndarray:
    """The `depth` best rows per query from a score matrix, best first (padding row excluded).

    Args:
        scores: `[n, N]` (or `[N]`) scores, higher is better.
        depth: int. Candidates per query.
        matched_only: bool. Keep only positive scores (BM25: at least one query term matched);
            the other slots hold the padding row 0.

    Returns:
        `[n, depth]` (or `[depth]`) int64 rows; ties go to the lower row.

    Example:
        >>> ranked_candidates(np.array([[0.0, 0.2, 0.0, 0.9]]), 3, matched_only=True).tolist()
        [[3, 1, 0]]
    """
    s = np.asarray(scores)
    one = s.ndim == 1
    s = np.atleast_2d(s)
    rows = top_k(s, depth, exclude_all=[PAD])
    if matched_only:
        rows = np.where(np.take_along_axis(s, rows, axis=1) > 0, rows, PAD)
    return rows[0] if one else rows


def rrf(
    ranked: Sequence[np.ndarray], weights: Sequence[float], k: int = RRF_K
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted reciprocal-rank fusion of ranked lists, over the union of their items.

    Args:
        ranked: one `[n, L_j]` int array per list: item rows, best first (row 0 = no item).
        weights: one weight >= 0 per list.
        k: int. The RRF constant. Defaults to 60.

    Returns:
        (rows `[n, M]` int64, scores `[n, M]` float64), best first: every item with a positive
        fused score `sum_j weights[j] / (k + rank_j)`; equal scores go to the lower row; rows
        with fewer items are padded with row 0 and score 0.

    Example:
        >>> rows, scores = rrf([np.array([[1, 2]]), np.array([[2, 3]])], [0.5, 0.5])
        >>> rows.tolist()
        [[2, 1, 3]]
    """
    lists = [np.atleast_2d(np.asarray(r, np.int64)) for r in ranked]
    if len(lists) != len(weights):
        raise ValueError(f"rrf got {len(lists)} ranked lists but {len(weights)} weights")
    if not all(w >= 0 for w in weights):  # NaN fails too
        raise ValueError(f"rrf weights must be >= 0; got weights={list(weights)}")
    n = lists[0].shape[0]
    items = np.concatenate(lists, axis=1)
    gain = np.concatenate(
        [
            np.broadcast_to(w / (k + np.arange(1.0, r.shape[1] + 1)), r.shape)
            for r, w in zip(lists, weights)
        ],
        axis=1,
    )
    # one (query, item) key per entry; sum the gains of equal keys (exact for two lists: a + b)
    width = int(items.max(initial=0)) + 1
    keys = (np.arange(n)[:, None] * width + items)[items != PAD]
    unique, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=gain[items != PAD], minlength=len(unique))
    unique, sums = unique[sums > 0], sums[sums > 0]  # a zero weight brings no candidates
    query, item = unique // width, unique % width
    # per query, its items in ascending order (np.unique sorts the keys), then top_k by score:
    # its lower-column tie-break is the lower row
    counts = np.bincount(query, minlength=n)
    slot = np.arange(len(unique)) - np.repeat(np.cumsum(counts) - counts, counts)
    cand = np.zeros((n, int(counts.max(initial=0))), np.int64)
    fused = np.full(cand.shape, -np.inf)
    cand[query, slot] = item
    fused[query, slot] = sums
    cols = top_k(fused, cand.shape[1])
    rows = np.take_along_axis(cand, cols, axis=1)
    scores = np.take_along_axis(fused, cols, axis=1)
    keep = np.isfinite(scores)
    return np.where(keep, rows, PAD), np.where(keep, scores, 0.0)


def hybrid_scores(
    dense: np.ndarray,
    lexical: np.ndarray,
    weight: float,
    depth: int = 200,
    k: int = RRF_K,
) -> np.ndarray:
    """Fused scores of every catalog row: RRF of the dense and the lexical top `depth`.

    Args:
        dense: `[n, N]` (or `[N]`) dense scores (query embedding dot item embeddings).
        lexical: the same shape, BM25 scores (`tfrec.text.lexical.LexicalIndex.scores`).
        weight: float in [0, 1]. The lexical share: 0 = dense order, 1 = BM25 order.
        depth: int. Candidates taken from each retriever. Defaults to 200.
        k: int. The RRF constant. Defaults to 60.

    Returns:
        `[n, N]` (or `[N]`) float64: the fused score of the fused candidates, 0 elsewhere.

    Example:
        >>> dense = np.array([0.0, 0.9, 0.5, 0.1])
        >>> lexical = np.array([0.0, 0.0, 1.0, 2.0])
        >>> np.argsort(-hybrid_scores(dense, lexical, 0.5, depth=2), kind="stable").tolist()
        [2, 1, 3, 0]
    """
    weight = check_weight(weight)
    d, lex = np.asarray(dense), np.asarray(lexical)
    if d.shape != lex.shape:
        raise ValueError(f"dense and lexical scores differ in shape: {d.shape} != {lex.shape}")
    one = d.ndim == 1
    d, lex = np.atleast_2d(d), np.atleast_2d(lex)
    rows, scores = rrf(
        [ranked_candidates(d, depth), ranked_candidates(lex, depth, matched_only=True)],
        [1.0 - weight, weight],
        k,
    )
    out = np.zeros(d.shape, np.float64)
    np.put_along_axis(out, rows, scores, axis=1)
    out[:, PAD] = 0.0
    return out[0] if one else out
