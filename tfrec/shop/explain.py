"""Why an item was recommended, as structured data (the API's `explain=true`).

`explain_item` returns, for one recommended item, whichever of these apply:

- `closest_history_item`: the history or session item it is closest to in the item-embedding
  space, its cosine, and the attributes they share (leaf category, brand, price band);
- `query_terms`: the words of the query found in the item's title, category or brand;
- `copurchase` / `coview`: the history or cart item it was most often bought / viewed with in
  the same session, with the count;
- `popularity`: its rank by interactions (for popularity-based feeds);
- `reasons`: the same as short sentences, strongest first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfrec.shop.context import PAD, ShopContext

_TOKEN_SPLIT = str.maketrans({c: " " for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"})


def tokens(text: str) -> list[str]:
    return str(text).lower().translate(_TOKEN_SPLIT).split()


def shared_attributes(ctx: ShopContext, a: int, b: int) -> list[str]:
    """Attributes items `a` and `b` share: category (leaf), brand, price_band."""
    out = []
    if ctx.leaf_idx[a] and ctx.leaf_idx[a] == ctx.leaf_idx[b]:
        out.append("category")
    if ctx.brand_idx[a] and ctx.brand_idx[a] == ctx.brand_idx[b]:
        out.append("brand")
    if ctx.price_bucket[a] and ctx.price_bucket[a] == ctx.price_bucket[b]:
        out.append("price_band")
    return out


def matched_query_terms(ctx: ShopContext, item: int, query: str) -> list[str]:
    """Query words that occur in the item's title, category path or brand."""
    words = set(tokens(f"{ctx.titles[item]} {ctx.categories[item]} {ctx.brands[item]}"))
    return [t for t in dict.fromkeys(tokens(query)) if t in words]


def _strongest_pair(ctx: ShopContext, counts, item: int, context: Sequence[int]):
    best, best_count = None, 0.0
    for other in context:
        c = counts.count(int(other), item)
        if c > best_count:
            best, best_count = int(other), c
    return best, best_count


def explain_item(
    ctx: ShopContext,
    item: int,
    history: Sequence[int] = (),
    query: str = "",
    source: str = "",
) -> dict:
    """Why `item` is recommended to someone with `history` (history + session + cart item
    rows) and `query`; `source` names the list it came from (e.g. popularity)."""
    history = [int(h) for h in history if int(h) != PAD and int(h) != item]
    out: dict = {}
    reasons: list[tuple[float, str]] = []
    if history:
        sims = ctx.item_embeddings[history] @ ctx.item_embeddings[item]
        j = int(np.argmax(sims))
        h = history[j]
        shared = shared_attributes(ctx, item, h)
        out["closest_history_item"] = {
            "item_id": ctx.item_ids[h],
            "title": ctx.titles[h],
            "similarity": round(float(sims[j]), 4),
            "shared_attributes": shared,
        }
        text = f"similar to {ctx.titles[h]!r} (cosine {sims[j]:.2f})"
        if shared:
            text += f", same {', '.join(s.replace('_', ' ') for s in shared)}"
        reasons.append((float(sims[j]), text))
        for name, counts, verb in (
            ("copurchase", ctx.copurchase, "bought"),
            ("coview", ctx.coview, "viewed"),
        ):
            other, count = _strongest_pair(ctx, counts, item, history)
            if other is not None:
                out[name] = {"item_id": ctx.item_ids[other], "count": int(count)}
                reasons.append(
                    (
                        1.0 + count,
                        f"{verb} together with {ctx.titles[other]!r} in {int(count)} session(s)",
                    )
                )
    if query and query.strip():
        terms = matched_query_terms(ctx, item, query)
        out["query_terms"] = terms
        if terms:
            reasons.append((2.0 + len(terms), f"matches {', '.join(terms)} of {query!r}"))
    if source == "popularity" or not reasons:
        rank = int(ctx.popularity_position[item]) + 1
        out["popularity"] = {"rank": rank, "interactions": int(ctx.popularity[item])}
        reasons.append((0.0, f"popular: #{rank} by interactions"))
    out["reasons"] = [text for _, text in sorted(reasons, key=lambda r: -r[0])]
    return out
