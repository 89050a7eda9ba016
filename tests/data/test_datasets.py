"""Splits are leak-free and examples carry only the past."""

import pandas as pd
import pytest
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.config import SplitConfig
from tfrec.data.datasets import PAD, assign_splits, prepare_data, retrieval_dataset


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


def test_user_split_holds_users_out_of_training(shop):
    items, events = shop
    split = SplitConfig(by="user", holdout_fraction=0.3, test_days=5, val_days=5)
    labels, _ = assign_splits(events, split)
    train_users = set(events.user_id[labels == "train"])
    test_users = set(events.user_id[labels == "test"])
    assert train_users and test_users
    assert not train_users & test_users
    data = prepare_data(items, events, split)
    assert set(data.user_vocab.values[1:]) == train_users & set(data.retrieval.user_id)


def test_query_split_holds_queries_out_of_training(shop):
    items, events = shop
    split = SplitConfig(by="query", holdout_fraction=0.5, test_days=5, val_days=5)
    labels, _ = assign_splits(events, split)
    q = events["query"].fillna("")
    train_q = set(q[(labels == "train") & (q != "")])
    test_q = set(q[(labels == "test") & (q != "")])
    assert test_q and not train_q & test_q


def test_too_short_log_is_a_clear_error(shop):
    items, events = shop
    with pytest.raises(ValueError, match="too few for val_days=20 and test_days=20"):
        prepare_data(items, events, SplitConfig(test_days=20, val_days=20))


def test_empty_catalog_is_a_clear_error(shop):
    _, events = shop
    with pytest.raises(ValueError, match="the catalog is empty"):
        prepare_data(pd.DataFrame(columns=["item_id", "title"]), events, SplitConfig())


def test_impression_labels_and_funnel(shop):
    items, events = shop
    data = prepare_data(items, events, SplitConfig(test_days=5, val_days=5))
    imp = data.impressions
    assert len(imp) == len(
        events[events.event == "impression"].drop_duplicates(["session_id", "query", "item_id"])
    )
    assert (imp.click >= imp.add_to_cart).all() and (imp.add_to_cart >= imp.purchase).all()
    assert 0 < imp.click.mean() < 1


def test_retrieval_dataset_batches(shop):
    items, events = shop
    data = prepare_data(items, events, SplitConfig(test_days=5, val_days=5))
    batch = next(iter(retrieval_dataset(data, "train", batch_size=8)))
    assert batch["history"].shape == (8, data.max_history)
    assert batch["item_idx"].dtype.name == "int64"
    assert (batch["sampling_probability"].numpy() > 0).all()
