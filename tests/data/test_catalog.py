"""Tests for tfrec/data/catalog.py: vocabularies, category levels, the item text."""

import pandas as pd
import pytest
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.config import SplitConfig
from tfrec.data.catalog import PAD, Vocabulary, item_text, split_category
from tfrec.data.prepared import prepare_data


@pytest.fixture(scope="module")
def shop():
    return make_shop()


def test_empty_catalog_is_a_clear_error(shop):
    _, events = shop
    with pytest.raises(ValueError, match="the catalog is empty"):
        prepare_data(pd.DataFrame(columns=["item_id", "title"]), events, SplitConfig())


def test_vocabulary_reserves_zero_for_unknown_ids() -> None:
    v = Vocabulary(["P1", "P2", "P1", None])
    assert v.values == ["[UNK]", "P1", "P2"]
    assert v.lookup(["P2", "nope"]).tolist() == [2, PAD]
    assert "P1" in v and "nope" not in v


def test_category_levels_are_keyed_by_their_full_prefix() -> None:
    assert split_category("Men > Shoes > Running > Trail") == [
        "Men",
        "Men > Shoes",
        "Men > Shoes > Running",
    ]
    assert split_category("Women > Shoes")[1] != split_category("Men > Shoes")[1]


def test_item_text_skips_missing_parts() -> None:
    assert item_text(" Mug ", None) == "Mug"
    assert item_text("Mug", "  ", {"colour": "red", "size": float("nan")}) == "Mug. colour: red"
