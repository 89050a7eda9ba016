"""Cold start: new items embedded from their content, new users served without a history.

`new_item_features(catalog, items)` turns contract item rows (item_id, title, optional
description, category, brand, price) into the item tower's inputs using the run's vocabularies
(unknown categories and brands map to 0, the price to its bucket). `embed_new_items(model,
catalog, items)` runs the text encoder and the trained item tower on them: no retraining, no
interaction needed, so an item is retrievable the moment it is embedded and added to an index
(`tfrec.index.ItemIndex.add`) or to a `ShopContext` (`add_items_to_context`).

New users need nothing here: `tfrec.shop.feed.home_feed` serves them from their session, their
query or popularity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tfrec.data.catalog import item_text, split_category
from tfrec.shop.context import PAD, ShopContext, _leaf_index, normalise_rows


def new_item_features(catalog, items: pd.DataFrame) -> dict:
    """Item-tower inputs and display fields of new items, from the run's vocabularies."""
    if "item_id" not in items or "title" not in items:
        raise ValueError(
            f"new items need item_id and title columns; got {', '.join(map(str, items.columns))}"
        )
    empty = items["title"].fillna("").astype(str).str.strip() == ""
    if empty.any():
        row = int(np.flatnonzero(empty.to_numpy())[0])
        raise ValueError(f"new item {items['item_id'].iloc[row]!r} (row {row}) has an empty title")
    n = len(items)

    def col(name):
        return items[name] if name in items else pd.Series([None] * n, index=items.index)

    texts = [item_text(t, d) for t, d in zip(items["title"], col("description"))]
    categories = col("category").fillna("").astype(str).tolist()
    cat_idx = np.zeros((n, catalog.category_idx.shape[1]), np.int64)
    paths = [split_category(path)[: cat_idx.shape[1]] for path in categories]
    for lvl in range(cat_idx.shape[1]):  # one lookup per level (a million rows add at once)
        rows = [r for r, parts in enumerate(paths) if len(parts) > lvl]
        if rows:
            keys = [paths[r][lvl] for r in rows]
            unique = list(dict.fromkeys(keys))
            found = dict(zip(unique, catalog.category_vocabs[lvl].lookup(unique), strict=True))
            cat_idx[rows, lvl] = [found[k] for k in keys]
    brands = col("brand").fillna("").astype(str).str.strip().tolist()
    brand_idx = catalog.brand_vocab.lookup(brands)
    price = pd.to_numeric(col("price"), errors="coerce").to_numpy(np.float64)
    bucket = np.where(
        np.isnan(price),
        0,
        np.searchsorted(catalog.price_boundaries, np.log1p(np.nan_to_num(price))) + 1,
    ).astype(np.int64)
    extra_c = 0 if catalog.extra_categorical is None else catalog.extra_categorical.shape[1]
    extra_n = 0 if catalog.extra_numeric is None else catalog.extra_numeric.shape[1]
    return {
        "item_ids": items["item_id"].astype(str).tolist(),
        "titles": items["title"].astype(str).tolist(),
        "texts": texts,
        "categories": categories,
        "brands": brands,
        "prices": price,
        "category": cat_idx,
        "brand": brand_idx.astype(np.int64),
        "price_bucket": bucket,
        "extra_categorical": np.zeros((n, extra_c), np.int64),
        "extra_numeric": np.zeros((n, extra_n), np.float32),
    }


def embed_new_items(
    model, catalog, items: pd.DataFrame, text_encoder=None, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(item-tower embeddings [n, D], text embeddings [n, H], features) of new items.

    Args:
        model: the trained RetrievalModel.
        catalog: the run's Catalog (vocabularies, price boundaries).
        items: contract item rows.
        text_encoder: TextEncoder for the item text, or None to use the model's
            (`item_text_encoder`); one of them must exist.
        batch_size: int. Items per encoder batch.
    """
    feats = new_item_features(catalog, items)
    encoder = text_encoder or model.item_text_encoder
    if encoder is None:
        raise ValueError(
            "embedding new items needs a text encoder: pass text_encoder= or call "
            "model.attach_text_encoder() first"
        )
    text = encoder.encode_texts(feats["texts"], batch_size=batch_size).astype(np.float32)
    out = []
    for start in range(0, len(text), batch_size):
        part = slice(start, start + batch_size)
        out.append(
            model.item_tower(
                {
                    "text_embedding": text[part],
                    "category": feats["category"][part],
                    "brand": feats["brand"][part],
                    "price_bucket": feats["price_bucket"][part],
                    "extra_categorical": feats["extra_categorical"][part],
                    "extra_numeric": feats["extra_numeric"][part],
                }
            ).numpy()
        )
    dim = model.item_tower.output_dim
    emb = np.concatenate(out) if out else np.zeros((0, dim), np.float32)
    return emb, text, feats


def add_items_to_context(
    ctx: ShopContext, feats: dict, embeddings: np.ndarray, text_embeddings: np.ndarray | None
) -> list[int]:
    """Append new items (from `new_item_features`) to a context so the feed, search and similar
    items can return them at once; ids already present are replaced in place (an id given twice:
    the last row wins). Returns the rows, in the order of `feats`.

    The arrays grow once for all new items (a million items are added in seconds; growing them
    item by item copied the whole catalog per item).

    Args:
        ctx: ShopContext, changed in place.
        feats: `new_item_features` of the items.
        embeddings: `[n, D]` item-tower embeddings.
        text_embeddings: `[n, H]` text embeddings, or None.

    Returns:
        list of the n context rows.

    Example:
    ```python
    rows = add_items_to_context(ctx, new_item_features(catalog, items), emb, text)
    ```
    """
    ids = feats["item_ids"]
    start = ctx.num_items
    fresh: dict[str, int] = {}
    rows = np.empty(len(ids), np.int64)
    for j, item_id in enumerate(ids):
        idx = ctx._item_index.get(item_id)
        if idx is None:
            idx = fresh.setdefault(item_id, start + len(fresh))
        rows[j] = idx
    m = len(fresh)
    if m:
        ctx.item_ids.extend(fresh)
        for name in ("titles", "categories", "brands", "texts"):
            if getattr(ctx, name) is not None:
                getattr(ctx, name).extend([""] * m)
        ctx._item_index.update(fresh)
        grow = {
            "prices": np.full(m, np.nan),
            "category_idx": np.zeros((m, ctx.category_idx.shape[1]), np.int64),
            "brand_idx": np.zeros(m, np.int64),
            "price_bucket": np.zeros(m, np.int64),
            "popularity": np.zeros(m),
            "leaf_idx": np.zeros(m, np.int64),
            # never interacted with: after every known item, in the order added
            "popularity_position": np.arange(start, start + m) - 1,
            "item_embeddings": np.zeros((m, ctx.item_embeddings.shape[1]), np.float32),
        }
        if ctx.text_embeddings is not None:
            grow["text_embeddings"] = np.zeros((m, ctx.text_embeddings.shape[1]), np.float32)
        for name, value in grow.items():
            arr = getattr(ctx, name)
            setattr(ctx, name, np.concatenate([arr, value.astype(arr.dtype, copy=False)]))
        ctx.popularity_position[PAD] = ctx.num_items - 1
        # once per table (a context may use one table for both)
        for counts in {id(c): c for c in (ctx.coview, ctx.copurchase)}.values():
            counts.indptr = np.concatenate([counts.indptr, np.repeat(counts.indptr[-1], m)])
            counts.item_sessions = np.concatenate(
                [counts.item_sessions, np.zeros(m, np.float32)]
            ).astype(np.float32)
    for j, idx in enumerate(rows.tolist()):
        ctx.titles[idx] = feats["titles"][j]
        ctx.categories[idx] = feats["categories"][j]
        ctx.brands[idx] = feats["brands"][j]
        if ctx.texts is not None:
            ctx.texts[idx] = feats["texts"][j]
    # fancy assignment: with an id given twice, the last of its rows is written last
    ctx.prices[rows] = feats["prices"]
    ctx.category_idx[rows] = feats["category"]
    ctx.brand_idx[rows] = feats["brand"]
    ctx.price_bucket[rows] = feats["price_bucket"]
    # as the item tower gives it: unit length, times 1 + the model's cold boost
    ctx.item_embeddings[rows] = embeddings
    if ctx.text_embeddings is not None and text_embeddings is not None:
        ctx.text_embeddings[rows] = normalise_rows(np.asarray(text_embeddings, np.float32))
    rows = rows.tolist()
    ctx.leaf_idx = _leaf_index(ctx.category_idx)
    ctx._category_association = None
    ctx._lexical = None  # rebuilt over the new items by ctx.lexical_index()
    return rows
