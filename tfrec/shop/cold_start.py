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
from tfrec.shop.context import ShopContext, _leaf_index, normalise_rows


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
    for row, path in enumerate(categories):
        for lvl, key in enumerate(split_category(path)[: cat_idx.shape[1]]):
            cat_idx[row, lvl] = catalog.category_vocabs[lvl].lookup([key])[0]
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
    items can return them at once; ids already present are replaced in place. Returns rows."""
    rows = []
    for j, item_id in enumerate(feats["item_ids"]):
        idx = ctx._item_index.get(item_id)
        if idx is None:
            idx = ctx.num_items
            ctx.item_ids.append(item_id)
            ctx.titles.append("")
            ctx.categories.append("")
            ctx.brands.append("")
            if ctx.texts is not None:
                ctx.texts.append("")
            ctx._item_index[item_id] = idx
            grow = {
                "prices": np.nan,
                "category_idx": np.zeros((1, ctx.category_idx.shape[1]), np.int64),
                "brand_idx": 0,
                "price_bucket": 0,
                "popularity": 0.0,
                "leaf_idx": 0,
                "popularity_position": ctx.num_items - 1,
            }
            for name, value in grow.items():
                arr = getattr(ctx, name)
                setattr(
                    ctx, name, np.concatenate([arr, np.asarray(value).reshape(1, *arr.shape[1:])])
                )
            ctx.item_embeddings = np.vstack(
                [ctx.item_embeddings, np.zeros((1, ctx.item_embeddings.shape[1]), np.float32)]
            )
            if ctx.text_embeddings is not None:
                ctx.text_embeddings = np.vstack(
                    [ctx.text_embeddings, np.zeros((1, ctx.text_embeddings.shape[1]), np.float32)]
                )
            for counts in (ctx.coview, ctx.copurchase):
                counts.indptr = np.append(counts.indptr, counts.indptr[-1])
                counts.item_sessions = np.append(counts.item_sessions, 0.0).astype(np.float32)
        ctx.titles[idx] = feats["titles"][j]
        ctx.categories[idx] = feats["categories"][j]
        ctx.brands[idx] = feats["brands"][j]
        if ctx.texts is not None:
            ctx.texts[idx] = feats["texts"][j]
        ctx.prices[idx] = feats["prices"][j]
        ctx.category_idx[idx] = feats["category"][j]
        ctx.brand_idx[idx] = feats["brand"][j]
        ctx.price_bucket[idx] = feats["price_bucket"][j]
        # as the item tower gives it: unit length, times 1 + the model's cold boost
        ctx.item_embeddings[idx] = embeddings[j]
        if ctx.text_embeddings is not None and text_embeddings is not None:
            ctx.text_embeddings[idx] = normalise_rows(text_embeddings[j : j + 1])[0]
        rows.append(idx)
    ctx.leaf_idx = _leaf_index(ctx.category_idx)
    ctx._category_association = None
    ctx._lexical = None  # rebuilt over the new items by ctx.lexical_index()
    return rows
