"""The graded truth of a query: every item of the intended leaf and category, best grades first."""

from __future__ import annotations

import numpy as np

from tfrec.data.synthetic.catalog import ShopCatalog

MAX_JUDGMENTS_PER_QUERY = 100
MAX_GRADE1_PER_QUERY = 20  # same mid-level category: a weak grade, a few suffice


def judge_query(
    cat: ShopCatalog, intent: tuple[int, int, int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Up to MAX_JUDGMENTS_PER_QUERY (item, relevance) pairs, best grades first.

    Args:
        cat: ShopCatalog. The items, grouped by leaf.
        intent: (leaf, slot 0 value, slot 1 value, slot 2 value, brand), -1 = not asked.

    Returns:
        (internal item indices, grades): 3 = the leaf with every asked attribute and brand,
        2 = the leaf, 1 = the same mid-level category (at most MAX_GRADE1_PER_QUERY).

    Example:
        >>> items, rel = judge_query(cat, (0, -1, -1, -1, -1))
    """
    leaf, c0, c1, c2, brand = intent
    cons = (c0, c1, c2)
    lo, hi = int(cat.leaf_lo[leaf]), int(cat.leaf_hi[leaf])
    cap = MAX_JUDGMENTS_PER_QUERY
    g3: list[np.ndarray] = []
    g2: list[np.ndarray] = []
    n3 = n2 = 0
    step = 8192
    for start in range(lo, hi, step):
        idx = np.arange(start, min(start + step, hi))
        ok = np.ones(len(idx), dtype=bool)
        for s, v in enumerate(cons):
            if v >= 0:
                ok &= cat.item_attr[idx, s] == v
        if brand >= 0:
            ok &= cat.item_brand[idx] == brand
        g3.append(idx[ok][: cap - n3])
        n3 += len(g3[-1])
        if n2 < cap:
            g2.append(idx[~ok][: cap - n2])
            n2 += len(g2[-1])
        if n3 >= cap:
            break
    items3 = np.concatenate(g3) if g3 else np.zeros(0, dtype=np.int64)
    items2 = (np.concatenate(g2) if g2 else np.zeros(0, dtype=np.int64))[: cap - len(items3)]
    need = min(cap - len(items3) - len(items2), MAX_GRADE1_PER_QUERY)
    items1 = np.zeros(0, dtype=np.int64)
    if need > 0:
        m = cat.leaf_mid[leaf]
        rest = np.concatenate([np.arange(cat.mid_lo[m], lo), np.arange(hi, cat.mid_hi[m])]).astype(
            np.int64
        )
        if len(rest) > need:
            rest = rest[np.linspace(0, len(rest) - 1, need).astype(np.int64)]
        items1 = rest
    items = np.concatenate([items3, items2, items1]).astype(np.int64)
    rel = np.concatenate(
        [np.full(len(items3), 3.0), np.full(len(items2), 2.0), np.full(len(items1), 1.0)]
    )
    return items, rel
