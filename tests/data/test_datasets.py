"""Tests for tfrec/data/datasets.py: tf.data batches over the prepared data."""

import pytest
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.config import SplitConfig
from tfrec.data.datasets import retrieval_dataset
from tfrec.data.prepared import prepare_data


@pytest.fixture(scope="module")
def shop():
    return make_shop()


def test_retrieval_dataset_batches(shop):
    items, events = shop
    data = prepare_data(items, events, SplitConfig(test_days=5, val_days=5))
    batch = next(iter(retrieval_dataset(data, "train", batch_size=8)))
    assert batch["history"].shape == (8, data.max_history)
    assert batch["item_idx"].dtype.name == "int64"
    assert (batch["sampling_probability"].numpy() > 0).all()
