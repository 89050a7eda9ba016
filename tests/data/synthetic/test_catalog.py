"""Tests for tfrec/data/synthetic/catalog.py: titles, prices, launch dates."""

from __future__ import annotations

import pandas as pd

from tfrec.data.synthetic.catalog import WINDOW_END


def test_titles_read_like_products(shop: dict[str, pd.DataFrame]) -> None:
    items = shop["items"]
    shoes = items[items["category"].str.endswith("Running Shoes")]
    assert len(shoes) > 0
    title = shoes["title"].iloc[0]
    assert any(b in title for b in shoes["brand"])
    assert ("Men's" in title) or ("Women's" in title)
    assert "Size " in title
    # prices follow the category: laptops cost more than phone cases
    median = items.groupby(items["category"].str.split(" > ").str[-1])["price"].median()
    assert median["Laptops"] > 10 * median["Phone Cases"]


def test_late_items_are_never_seen_before_launch(shop: dict[str, pd.DataFrame]) -> None:
    items, ev = shop["items"], shop["events"]
    cut = pd.Timestamp(str(WINDOW_END)) - pd.Timedelta(days=11)
    late = items[items["created_at"] >= cut]
    assert 0.03 * len(items) < len(late) < 0.15 * len(items)
    m = ev.merge(items[["item_id", "created_at"]], on="item_id")
    assert (m["timestamp"] >= m["created_at"]).all()
    assert m["item_id"].isin(late["item_id"]).any()  # late items do get traffic after launch


def test_popularity_exponent_skews_exposure_but_not_appeal() -> None:
    import dataclasses

    import numpy as np

    from tfrec.config import SyntheticConfig
    from tfrec.data.synthetic.catalog import ShopCatalog

    base = SyntheticConfig(num_items=2000, num_users=20, seed=4)
    flat = ShopCatalog(base)
    steep = ShopCatalog(dataclasses.replace(base, popularity_exponent=1.4))

    def top_share(cat: ShopCatalog) -> float:
        w = np.sort(cat.item_weight)[::-1]
        return float(w[: len(w) // 100].sum() / w.sum())

    assert top_share(steep) > top_share(flat) + 0.15
    # the same items are popular, and appeal (standardised) does not move
    assert np.array_equal(np.argmax(flat.item_weight), np.argmax(steep.item_weight))
    np.testing.assert_allclose(flat.item_appeal, steep.item_appeal, atol=1e-9)
    np.testing.assert_array_equal(flat.item_price, steep.item_price)
