import numpy as np
import pandas as pd
import pytest

from tfrec.shop.cold_start import add_items_to_context, embed_new_items, new_item_features
from tfrec.shop.feed import home_feed
from tfrec.shop.similar import similar_items


class TableEncoder:
    """Stands in for the frozen text encoder: the model's cached text embedding per text."""

    def __init__(self, catalog, table):
        self.rows = {t: i for i, t in enumerate(catalog.texts)}
        self.table = table

    def encode_texts(self, texts, batch_size=256):
        return np.stack([self.table[self.rows[t]] for t in texts])


def catalog_rows(catalog, rows):
    return pd.DataFrame(
        {
            "item_id": [f"new{r}" for r in rows],
            "title": [catalog.titles[r] for r in rows],
            "category": [catalog.categories[r] for r in rows],
            "brand": [catalog.brands[r] for r in rows],
            "price": [catalog.prices[r] for r in rows],
        }
    )


def test_content_path_reproduces_the_catalog_embeddings(tiny_data, tiny_model):
    """Items without training interactions are embedded from content alone, in the catalog and
    as new items; items with some also carry their learnt id embedding, so they differ."""
    c = tiny_data.catalog
    known = tiny_data.item_train_counts > 0
    unseen = [int(i) for i in np.flatnonzero(~known)[1:4]]  # row 0 is the padding item
    seen = [int(i) for i in np.flatnonzero(known)[:3]]
    assert len(unseen) == 3 and len(seen) == 3
    enc = TableEncoder(c, tiny_model.item_text_table.numpy())
    emb, _, feats = embed_new_items(tiny_model, c, catalog_rows(c, unseen), enc)
    np.testing.assert_array_equal(feats["category"], c.category_idx[unseen])
    np.testing.assert_array_equal(feats["price_bucket"], c.price_bucket[unseen])
    np.testing.assert_allclose(emb, tiny_model.all_item_embeddings()[unseen], atol=1e-5)
    emb, _, _ = embed_new_items(tiny_model, c, catalog_rows(c, seen), enc)
    assert not np.allclose(emb, tiny_model.all_item_embeddings()[seen], atol=1e-5)


def test_unknown_attributes_map_to_zero_and_empty_titles_fail(tiny_data):
    c = tiny_data.catalog
    items = pd.DataFrame({"item_id": ["n"], "title": ["x"], "category": ["Z > Y"], "brand": ["zz"]})
    f = new_item_features(c, items)
    assert f["category"].tolist() == [[0, 0, 0]] and f["brand"].tolist() == [0]
    assert f["price_bucket"].tolist() == [0]
    with pytest.raises(ValueError, match="empty title"):
        new_item_features(c, pd.DataFrame({"item_id": ["n"], "title": [" "]}))


def test_added_item_is_served_at_once(tiny_ctx, tiny_data, tiny_model):
    import copy
    import dataclasses

    ctx = copy.deepcopy(dataclasses.replace(tiny_ctx, query_encoder=None))
    ctx.query_encoder = tiny_ctx.query_encoder
    c = tiny_data.catalog
    enc = TableEncoder(c, tiny_model.item_text_table.numpy())
    emb, text, feats = embed_new_items(tiny_model, c, catalog_rows(c, [5]), enc)
    (row,) = add_items_to_context(ctx, feats, emb, text)
    assert ctx.item_ids[row] == "new5" and ctx.item_index("new5") == row
    sim = similar_items(ctx, "new5", k=1, weights={"semantic": 1.0})
    assert sim["items"][0]["item_id"] == c.item_ids[5]
    feed = home_feed(ctx, None, session_items=[c.item_ids[5]], k=3, exclude_seen=True)
    assert "new5" in [r["item_id"] for r in feed["items"]]


def test_many_items_added_at_once_keep_every_array_aligned(ctx):
    """One call adds a batch (arrays grow once): new ids get new rows in order, an existing id
    is updated in place, an id given twice keeps its last row's values."""
    n0 = ctx.num_items
    ids = ["a", "i2", "b", "a"]
    dim, text_dim = ctx.item_embeddings.shape[1], ctx.text_embeddings.shape[1]
    emb = np.eye(4, dim, dtype=np.float32)
    feats = {
        "item_ids": ids,
        "titles": ["first a", "new mug", "b", "last a"],
        "texts": ["first a", "new mug", "b", "last a"],
        "categories": ["", "A > B > C", "", ""],
        "brands": ["", "b1", "", ""],
        "prices": np.array([1.0, 2.0, 3.0, 4.0]),
        "category": np.zeros((4, ctx.category_idx.shape[1]), np.int64),
        "brand": np.array([0, 1, 0, 0]),
        "price_bucket": np.array([1, 1, 2, 3]),
    }
    rows = add_items_to_context(ctx, feats, emb, np.ones((4, text_dim), np.float32))
    assert rows == [n0, 2, n0 + 1, n0]
    assert ctx.num_items == n0 + 2 and ctx.item_ids[n0:] == ["a", "b"]
    assert ctx.item_index("a") == n0 and ctx.item_index("b") == n0 + 1
    assert ctx.titles[n0] == "last a" and ctx.prices[n0] == 4.0
    assert ctx.titles[2] == "new mug" and ctx.prices[2] == 2.0
    np.testing.assert_array_equal(ctx.item_embeddings[n0], emb[3])
    for name in ("prices", "brand_idx", "price_bucket", "popularity", "leaf_idx"):
        assert len(getattr(ctx, name)) == ctx.num_items, name
    assert ctx.item_embeddings.shape[0] == ctx.text_embeddings.shape[0] == ctx.num_items
    assert len(ctx.titles) == len(ctx.categories) == len(ctx.brands) == ctx.num_items
    assert sorted(ctx.popularity_position) == list(range(ctx.num_items))
    assert ctx.popularity_position[0] == ctx.num_items - 1  # padding last
    for counts in (ctx.coview, ctx.copurchase):
        assert len(counts.indptr) == ctx.num_items + 1
        assert len(counts.item_sessions) == ctx.num_items
        assert counts.row(n0 + 1)[0].size == 0
    assert similar_items(ctx, "b", k=2)["items"]  # the new rows are served
