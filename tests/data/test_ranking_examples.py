"""Ranking examples (`tfrec.data.ranking_examples`): history features, and clear errors for
impressions without positions and unknown extra features."""

import numpy as np
import pandas as pd
import pytest
from tiny_ranking import ranking_data, ranking_shop

from tfrec.data.ranking_examples import history_features, ranking_frame


@pytest.fixture(scope="module")
def shop():
    return ranking_shop()


@pytest.fixture(scope="module")
def data(shop):
    return ranking_data(shop)


def test_impressions_without_positions_are_an_error(data):
    broken = data.impressions.copy()
    broken.loc[broken.index[:7], "position"] = pd.NA
    bad = type(data)(**{**data.__dict__, "impressions": broken})
    split = broken.loc[broken.index[0], "split"]
    with pytest.raises(ValueError, match=r"7 of \d+ impressions in split '\w+' have no position"):
        ranking_frame(bad, split)


def test_unknown_extra_feature_is_named(data, shop):
    with pytest.raises(ValueError, match="extra_features.device: no column 'device'"):
        ranking_frame(
            data, "train", events=shop[1], items=shop[0], extra_features={"device": "categorical"}
        )


def test_history_features(data):
    c = data.catalog
    item = 5
    same_brand = [i for i in range(1, len(c)) if c.brand_idx[i] == c.brand_idx[item] and i != item]
    other = [i for i in range(1, len(c)) if c.brand_idx[i] != c.brand_idx[item]]
    history = np.array([[0, 0, same_brand[0], other[0]], [0, 0, 0, 0]])
    f = history_features(data, history, np.array([item, item]))
    np.testing.assert_array_equal(f["history_length"], [2, 0])
    assert f["history_brand_share"][0] == pytest.approx(0.5)
    assert f["history_brand_share"][1] == 0 and f["history_price_gap"][1] == 0
    expected_gap = c.price_bucket[item] - c.price_bucket[[same_brand[0], other[0]]].mean()
    assert f["history_price_gap"][0] == pytest.approx(expected_gap)
