import pytest

from tfrec.shop.context import UnknownItemError
from tfrec.shop.similar import similar_items


def test_contributions_sum_to_the_score(ctx):
    out = similar_items(ctx, "i1", k=4)
    for row in out["items"]:
        assert sum(row["contributions"].values()) == pytest.approx(row["score"], abs=1e-4)
    assert "i1" not in [r["item_id"] for r in out["items"]]


def test_each_dimension_ranks_by_its_own_evidence(ctx):
    behavioural = similar_items(ctx, "i1", k=1, weights={"behavioural": 1.0})
    assert behavioural["items"][0]["item_id"] == "i2"  # co-viewed 5 times
    assert behavioural["items"][0]["coview_count"] == 5
    attribute = similar_items(ctx, "i4", k=1, weights={"attribute": 1.0})
    assert attribute["items"][0]["item_id"] == "i5"  # same leaf, brand and price band
    semantic = similar_items(ctx, "i6", k=1, weights={"semantic": 1.0})
    assert semantic["items"][0]["item_id"] == "i3"


def test_unknown_item_and_bad_weights(ctx):
    with pytest.raises(UnknownItemError, match="'zzz'"):
        similar_items(ctx, "zzz")
    with pytest.raises(ValueError, match="colour"):
        similar_items(ctx, "i1", weights={"colour": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        similar_items(ctx, "i1", weights={"semantic": -1.0})
