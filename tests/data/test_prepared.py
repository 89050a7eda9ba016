"""Tests for tfrec/data/prepared.py: examples carry only the past; impression labels."""

import pytest
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.config import SplitConfig
from tfrec.data.catalog import PAD
from tfrec.data.prepared import prepare_data


@pytest.fixture(scope="module")
def shop():
    return make_shop()


def test_time_split_is_leak_free(shop):
    items, events = shop
    data = prepare_data(items, events, SplitConfig(test_days=5, val_days=5))
    r = data.retrieval
    val_start, test_start = data.cutoffs["val_start"], data.cutoffs["test_start"]
    assert (r[r.split == "train"].timestamp < val_start).all()
    assert (r[r.split == "test"].timestamp >= test_start).all()
    # every history item was interacted with strictly before the example
    pos = events[events.event == "click"]
    first_click = pos.groupby(["user_id", "item_id"]).timestamp.min()
    for _, row in r.iterrows():
        for idx in row.history[row.history > PAD]:
            item = data.item_vocab.values[idx]
            assert first_click[(row.user_id, item)] < row.timestamp
    # feed evaluation histories stop at the start of the period
    for _, row in data.feed_eval["test"].iterrows():
        for idx in row.history[row.history > PAD]:
            assert first_click[(row.user_id, data.item_vocab.values[idx])] < test_start
    # training popularity counts only training examples
    assert data.item_train_counts.sum() == (r.split == "train").sum()


def test_impression_labels_and_funnel(shop):
    items, events = shop
    data = prepare_data(items, events, SplitConfig(test_days=5, val_days=5))
    imp = data.impressions
    assert len(imp) == len(
        events[events.event == "impression"].drop_duplicates(["session_id", "query", "item_id"])
    )
    assert (imp.click >= imp.add_to_cart).all() and (imp.add_to_cart >= imp.purchase).all()
    assert 0 < imp.click.mean() < 1
