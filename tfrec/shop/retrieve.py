"""Dense scores of a query embedding over the catalog, exact or through an item index.

Without an index (`ShopContext.candidate_search` is None, catalogs below
`index.brute_force_below`) the score of every item is one matmul. `index_rows` gives the rows
other capabilities score exactly (/similar: an item's own neighbours). With one (the served ScaNN
or approx_max_k index of a large catalog) only the index's top `depth` items, plus the rows
the index does not hold (`ShopContext.unindexed_rows`: items added or re-embedded while
serving), are scored exactly; every other item scores -inf, so `top_k(..., finite_only=True)`,
hybrid fusion and MMR see only those. Where the index finds the exact top-k among its top
`depth`, the result equals the matmul's.
"""

from __future__ import annotations

import numpy as np

from tfrec.shop.context import PAD, ShopContext


def uses_index(ctx: ShopContext, depth: int) -> bool:
    """Whether `dense_scores(ctx, _, depth)` goes through the index (one is attached and
    `depth` is below the catalog size).

    Args:
        ctx: ShopContext.
        depth: candidates the caller needs.

    Returns:
        True when the index path is taken.

    Example:
    ```python
    uses_index(ctx, 200)  # False without ctx.candidate_search
    ```
    """
    return ctx.candidate_search is not None and 0 < depth < ctx.num_items - 1


def dense_scores(ctx: ShopContext, embedding: np.ndarray, depth: int) -> np.ndarray:
    """`[N]` dense scores of one query embedding: exact for every item, or (with an index) for
    the index's top `depth` items and the unindexed rows, -inf elsewhere.

    Args:
        ctx: ShopContext (its `item_embeddings`, `candidate_search`, `unindexed_rows`).
        embedding: `[D]` query-side embedding.
        depth: candidates to take from the index (the most the caller will read).

    Returns:
        `[N]` float32 scores (the padding row included; callers exclude it).

    Example:
    ```python
    scores = dense_scores(ctx, query_embedding, depth=200)
    top_k(scores, 10, exclude_all=[PAD], finite_only=True)
    ```
    """
    embedding = np.asarray(embedding, np.float32).reshape(-1)
    if not uses_index(ctx, depth):
        return ctx.item_embeddings @ embedding
    rows = index_rows(ctx, embedding, depth)
    scores = np.full(ctx.num_items, -np.inf, np.float32)
    scores[rows] = ctx.item_embeddings[rows] @ embedding
    return scores


def index_rows(ctx: ShopContext, embedding: np.ndarray, depth: int) -> np.ndarray:
    """The context rows worth scoring for one embedding: the index's top `depth` items and
    the rows the index does not hold (sorted, unique, no padding).

    Args:
        ctx: ShopContext with a `candidate_search`.
        embedding: `[D]` embedding in the index's space (a query's, or an item's own).
        depth: items to take from the index.

    Returns:
        `[M]` int64 rows.

    Example:
    ```python
    rows = index_rows(ctx, ctx.item_embeddings[item], 200)  # /similar's candidates
    ```
    """
    embedding = np.asarray(embedding, np.float32).reshape(1, -1)
    found = np.asarray(ctx.candidate_search(embedding, int(depth)), np.int64).reshape(-1)
    rows = np.unique(found[(found > PAD) & (found < ctx.num_items)])
    if ctx.unindexed_rows is not None and len(ctx.unindexed_rows):
        rows = np.union1d(rows, ctx.unindexed_rows)
    return rows
