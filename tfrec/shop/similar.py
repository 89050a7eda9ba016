"""Similar items over several dimensions, with each dimension's contribution.

For an item `a` and every other item `b`, three scores in [0, 1]:

- `semantic`: cosine of the frozen text encoder's embeddings of title + description (the item
  tower's embedding when no text embeddings are given), clipped at 0;
- `behavioural`: co-view cosine c(a, b) / sqrt(n_a * n_b) over sessions in the event log;
- `attribute`: 0.6 * category path overlap (leading taxonomy levels in common / levels of `a`)
  + 0.2 * same brand + 0.2 * price-band closeness (1 - |bucket difference| / buckets).

The combined score is sum_d weight_d * score_d (`shop.similar_weights`); every result carries
`contributions` (weight_d * score_d per dimension), which sum to its score.
"""

from __future__ import annotations

import numpy as np

from tfrec.core.topk import top_k
from tfrec.shop.context import PAD, ShopContext

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


def attribute_scores(ctx: ShopContext, item: int) -> np.ndarray:
    """[N] attribute similarity of every item to `item`."""
    cats = ctx.category_idx
    levels = cats.shape[1] if cats.ndim == 2 else 0
    known_levels = int((cats[item] > 0).sum()) if levels else 0
    cat = np.zeros(ctx.num_items)
    if known_levels:
        prefix = np.ones(ctx.num_items, bool)
        for lvl in range(levels):
            if cats[item, lvl] == 0:
                break
            prefix &= cats[:, lvl] == cats[item, lvl]
            cat += prefix
        cat /= known_levels
    brand = (ctx.brand_idx == ctx.brand_idx[item]) & (ctx.brand_idx[item] > 0)
    price = np.zeros(ctx.num_items)
    if ctx.price_bucket[item] > 0:
        span = max(int(ctx.price_bucket.max()), 1)
        price = 1.0 - np.abs(ctx.price_bucket - ctx.price_bucket[item]) / span
        price[ctx.price_bucket == 0] = 0.0
    out = 0.6 * cat + 0.2 * brand + 0.2 * price
    out[PAD] = 0.0
    return out


def dimension_scores(ctx: ShopContext, item: int) -> dict[str, np.ndarray]:
    """Per dimension, the [N] similarity of every item to `item` (in [0, 1])."""
    semantic_space = ctx.text_embeddings if ctx.text_embeddings is not None else ctx.item_embeddings
    semantic = np.clip(semantic_space @ semantic_space[item], 0.0, 1.0)
    behavioural = np.clip(ctx.coview.dense_row(item, normalise=True), 0.0, 1.0)
    out = {
        "semantic": semantic.astype(np.float64),
        "behavioural": behavioural.astype(np.float64),
        "attribute": attribute_scores(ctx, item),
    }
    for v in out.values():
        v[PAD] = 0.0
    return out


def similar_scores(ctx: ShopContext, item: int, weights: dict[str, float] | None = None):
    """(combined [N] scores with the item itself at -inf, the per-dimension scores)."""
    w = check_weights(weights)
    dims = dimension_scores(ctx, item)
    total = sum(w[d] * dims[d] for d in DIMENSIONS)
    total[item] = -np.inf
    total[PAD] = -np.inf
    return total, dims


def similar_items(
    ctx: ShopContext, item_id: str, k: int = 10, weights: dict[str, float] | None = None
) -> dict:
    """The `k` items most similar to `item_id`, each with its per-dimension scores and
    contributions. An unknown `item_id` raises `UnknownItemError`."""
    if k < 1:
        raise ValueError(f"`k` must be >= 1. Received: k={k}")
    item = ctx.item_index(item_id)
    w = check_weights(weights)
    total, dims = similar_scores(ctx, item, w)
    top = top_k(total, min(k, ctx.num_items - 2))
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
