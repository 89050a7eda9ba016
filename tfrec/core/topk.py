"""Top-k over score arrays: the one implementation every ranking in tfrec uses (evaluation,
the exact index, the shop's feeds, similar and complementary items), so that they all break
ties the same way."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def top_k(
    scores: np.ndarray,
    k: int,
    exclude: Sequence[np.ndarray] | np.ndarray | None = None,
    exclude_all: Sequence[int] = (),
    finite_only: bool = False,
) -> np.ndarray:
    """Indices of the `k` highest scores, best first; equal scores go to the lower index, so
    the result equals a full stable sort by descending score, cut at `k`.

    Selection is `np.argpartition` (linear time), then only the selected `k` are sorted, so a
    catalog of millions costs one pass per row; a row whose k-th score is tied with items left
    out is completed by index order.

    Args:
        scores: `[N]` or `[B, N]` scores (higher is better).
        k: how many to return; clamped to the number of columns that can win.
        exclude: indices that never win: one array for 1-D scores, one array per row for 2-D.
        exclude_all: columns that never win in any row (e.g. the padding item 0).
        finite_only: 1-D only: return only items with a finite score (so fewer than `k` when
            fewer are finite, and none of the excluded ones).

    Returns:
        `[k]` or `[B, k]` int64 column indices.

    Example:
        >>> top_k(np.array([0.1, 0.9, 0.5, 0.9]), 3).tolist()
        [1, 3, 2]
    """
    if finite_only:
        if np.ndim(scores) != 1:
            raise ValueError("finite_only applies to 1-D scores")
        return _top_k_finite(np.asarray(scores), k, exclude, exclude_all)
    s = np.array(scores, dtype=np.float64, copy=True)
    one_row = s.ndim == 1
    if one_row:
        s = s[None, :]
        if exclude is not None:
            exclude = [np.asarray(exclude, np.int64)]
    if len(exclude_all):
        s[:, list(exclude_all)] = -np.inf
    if exclude is not None:
        for row, items in enumerate(exclude):
            if len(items):
                s[row, np.asarray(items, np.int64)] = -np.inf
    k = max(0, min(int(k), s.shape[1] - len(set(exclude_all))))
    if k == 0:
        out = np.zeros((s.shape[0], 0), np.int64)
        return out[0] if one_row else out
    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    picked = np.take_along_axis(s, part, axis=1)
    kth = picked.min(axis=1)
    tied_in = (picked == kth[:, None]).sum(axis=1)
    tied_all = (s == kth[:, None]).sum(axis=1)
    for row in np.flatnonzero(tied_all > tied_in):
        # argpartition chose arbitrarily among the items tied at the cut: take the lowest indices
        above = np.flatnonzero(s[row] > kth[row])
        tied = np.flatnonzero(s[row] == kth[row])[: k - len(above)]
        part[row] = np.concatenate([above, tied])
    picked = np.take_along_axis(s, part, axis=1)
    # sort the selection by score descending, then by index ascending
    order = np.lexsort((part, -picked), axis=1)
    out = np.take_along_axis(part, order, axis=1).astype(np.int64)
    return out[0] if one_row else out


def _top_k_finite(
    scores: np.ndarray, k: int, exclude: np.ndarray | None, exclude_all: Sequence[int]
) -> np.ndarray:
    """`top_k(scores, k, exclude, exclude_all, finite_only=True)` for 1-D scores, over the
    finite entries only: a catalog of a million items scored through an index holds a few
    hundred finite scores, and one pass to find them replaces the passes over every item.
    The finite rows keep their order, so ties still go to the lower index."""
    rows = np.flatnonzero(np.isfinite(scores))
    dropped = list(exclude_all)
    if exclude is not None and len(exclude):
        dropped.extend(np.asarray(exclude, np.int64).reshape(-1).tolist())
    if dropped:
        rows = rows[~np.isin(rows, np.asarray(dropped, np.int64))]
    if not len(rows):
        return np.zeros(0, np.int64)
    return rows[top_k(scores[rows], k)]
