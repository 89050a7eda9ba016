"""Similar items over several dimensions, with each dimension's contribution.

For an item `a` and every other item `b`, three scores in [0, 1]:

- `semantic`: cosine of the frozen text encoder's embeddings of title + description (the item
  tower's embedding when no text embeddings are given), clipped at 0;
- `behavioural`: co-view cosine c(a, b) / sqrt(n_a * n_b) over sessions in the event log;
- `attribute`: 0.6 * category path overlap (leading taxonomy levels in common / levels of `a`)
  + 0.2 * same brand + 0.2 * price-band closeness (1 - |bucket difference| / buckets).

The combined score is sum_d weight_d * score_d (`shop.similar_weights`); every result carries
`contributions` (weight_d * score_d per dimension), which sum to its score. In a catalog served
through an item index (`index.brute_force_below` items or more) only the candidates of
`similarity_candidates` are scored: the index's neighbours of the item, its co-viewed items.
"""

from __future__ import annotations

import numpy as np

from tfrec.core.topk import top_k
from tfrec.shop.context import PAD, ShopContext
from tfrec.shop.retrieve import index_rows, uses_index

DIMENSIONS = ("semantic", "behavioural", "attribute")
DEFAULT_WEIGHTS = {"semantic": 0.4, "behavioural": 0.4, "attribute": 0.2}


def check_weights(weights: dict[str, float] | None) -> dict[str, float]:
    """The weights to use; unknown dimension names or negative weights are errors."""
    weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
    unknown = sorted(set(weights) - set(DIMENSIONS))
    if unknown:
        raise ValueError(f"unknown similarity dimension(s) {unknown}: use {', '.join(DIMENSIONS)}")
    bad = {d: w for d, w in weights.items() if w < 0}
    if bad:
        raise ValueError(f"similarity weights must be >= 0. Received: {bad}")
    if sum(weights.values()) <= 0:
        raise ValueError(f"at least one similarity weight must be > 0. Received: {weights}")
    return {d: float(weights.get(d, 0.0)) for d in DIMENSIONS}


def attribute_scores(ctx: ShopContext, item: int, rows: np.ndarray | None = None) -> np.ndarray:
    """Attribute similarity to `item` of every item (`rows` None) or of `rows` only."""
    rows = np.arange(ctx.num_items) if rows is None else np.asarray(rows, np.int64)
    cats = ctx.category_idx
    levels = cats.shape[1] if cats.ndim == 2 else 0
    known_levels = int((cats[item] > 0).sum()) if levels else 0
    cat = np.zeros(len(rows))
    if known_levels:
        prefix = np.ones(len(rows), bool)
        for lvl in range(levels):
            if cats[item, lvl] == 0:
                break
            prefix &= cats[rows, lvl] == cats[item, lvl]
            cat += prefix
        cat /= known_levels
    brand = (ctx.brand_idx[rows] == ctx.brand_idx[item]) & (ctx.brand_idx[item] > 0)
    price = np.zeros(len(rows))
    if ctx.price_bucket[item] > 0:
        span = max(int(ctx.price_bucket.max()), 1)
        buckets = ctx.price_bucket[rows]
        price = 1.0 - np.abs(buckets - ctx.price_bucket[item]) / span
        price[buckets == 0] = 0.0
    out = 0.6 * cat + 0.2 * brand + 0.2 * price
    out[rows == PAD] = 0.0
    return out


def dimension_scores(
    ctx: ShopContext, item: int, rows: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Per dimension, the similarity to `item` (in [0, 1]) of every item, or of `rows` only
    (each array then follows `rows`)."""
    semantic_space = ctx.text_embeddings if ctx.text_embeddings is not None else ctx.item_embeddings
    targets = semantic_space if rows is None else semantic_space[rows]
    semantic = np.clip(targets @ semantic_space[item], 0.0, 1.0)
    behavioural = np.clip(ctx.coview.dense_row(item, normalise=True), 0.0, 1.0)
    out = {
        "semantic": semantic.astype(np.float64),
        "behavioural": (behavioural if rows is None else behavioural[rows]).astype(np.float64),
        "attribute": attribute_scores(ctx, item, rows),
    }
    pad = PAD if rows is None else np.asarray(rows) == PAD
    for v in out.values():
        v[pad] = 0.0
    return out


def similarity_candidates(ctx: ShopContext, item: int, depth: int) -> np.ndarray | None:
    """The rows /similar scores for `item` in a large catalog: the item index's top `depth`
    neighbours of the item's own embedding, its co-viewed items and the unindexed rows; None
    (score every item) below `index.brute_force_below` (no index attached).

    Args:
        ctx: ShopContext.
        item: the anchor's row.
        depth: neighbours to take from the index; 0: score every item.

    Returns:
        `[M]` int64 rows (without `item` and the padding), or None.

    Example:
    ```python
    similarity_candidates(ctx, ctx.item_index("P000123"), 200)
    ```
    """
    if not uses_index(ctx, depth):
        return None
    found = index_rows(ctx, ctx.item_embeddings[item], depth)
    coviewed, _ = ctx.coview.row(item)
    rows = np.union1d(found, np.asarray(coviewed, np.int64))
    return rows[(rows != PAD) & (rows != item)]


def similar_scores(
    ctx: ShopContext,
    item: int,
    weights: dict[str, float] | None = None,
    rows: np.ndarray | None = None,
):
    """(combined [N] scores with the item itself at -inf, the per-dimension [N] scores); with
    `rows`, only those are scored (every other item -inf, its dimensions 0)."""
    w = check_weights(weights)
    dims = dimension_scores(ctx, item, rows)
    if rows is not None:
        full = {d: np.zeros(ctx.num_items) for d in DIMENSIONS}
        for d in DIMENSIONS:
            full[d][rows] = dims[d]
        dims = full
    total = sum(w[d] * dims[d] for d in DIMENSIONS)
    if rows is not None:
        outside = np.ones(ctx.num_items, bool)
        outside[rows] = False
        total[outside] = -np.inf
    total[item] = -np.inf
    total[PAD] = -np.inf
    return total, dims


def similar_items(
    ctx: ShopContext,
    item_id: str,
    k: int = 10,
    weights: dict[str, float] | None = None,
    index_candidates: int = 0,
) -> dict:
    """The `k` items most similar to `item_id`, each with its per-dimension scores and
    contributions. An unknown `item_id` raises `UnknownItemError`.

    Args:
        ctx: ShopContext.
        item_id: str. The anchor item.
        k: int. Items to return.
        weights: dict or None. Weight per dimension (`DEFAULT_WEIGHTS` when None).
        index_candidates: int. With an item index attached (`ctx.candidate_search`, catalogs of
            `index.brute_force_below` items or more), only `similarity_candidates` (this many
            index neighbours, co-viewed and unindexed items) are scored; 0: every item.

    Returns:
        dict with the anchor `item`, the `weights` and `items`.

    Example:
        >>> similar_items(ctx, "P000123", k=5)["items"][0]["scores"]  # doctest: +SKIP
    """
    if k < 1:
        raise ValueError(f"`k` must be >= 1. Received: k={k}")
    item = ctx.item_index(item_id)
    w = check_weights(weights)
    rows = similarity_candidates(ctx, item, max(index_candidates, k)) if index_candidates else None
    total, dims = similar_scores(ctx, item, w, rows)
    top = top_k(total, min(k, ctx.num_items - 2), finite_only=True)
    items = []
    for rank, idx in enumerate(top, start=1):
        items.append(
            {
                "rank": rank,
                **ctx.item_summary(int(idx)),
                "score": round(float(total[idx]), 5),
                "scores": {d: round(float(dims[d][idx]), 5) for d in DIMENSIONS},
                "contributions": {d: round(float(w[d] * dims[d][idx]), 5) for d in DIMENSIONS},
                "coview_count": int(ctx.coview.count(item, int(idx))),
            }
        )
    return {"item": ctx.item_summary(item), "weights": w, "items": items}
