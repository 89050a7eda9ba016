"""Tests for tfrec/data/splits.py: held-out users and queries, clear errors."""

import pytest
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.config import SplitConfig
from tfrec.data.prepared import prepare_data
from tfrec.data.splits import assign_splits


@pytest.fixture(scope="module")
def shop():
    return make_shop()


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
