import pytest

from tfrec.shop.complementary import bundle, complementary_items
from tfrec.shop.context import UnknownItemError


def ids(result):
    return [r["item_id"] for r in result["items"]]


def test_substitutes_are_pushed_below_complements(ctx):
    # i1 (mug) is bought with i2 (mug, 5x), i4 (kettle, 3x) and i6 (lamp, 1x)
    plain = complementary_items(ctx, "i1", k=3, prefer_other_category=False)
    assert ids(plain) == ["i2", "i4", "i6"] and plain["source"] == "copurchase"
    assert plain["items"][0]["copurchase_count"] == 5 and plain["items"][0]["same_category"]
    other = complementary_items(ctx, "i1", k=3, prefer_other_category=True)
    assert ids(other)[0] == "i4"
    assert ids(other).index("i2") > ids(other).index("i4")


def test_cold_item_falls_back_to_weaker_evidence(ctx):
    out = complementary_items(ctx, "i7", k=2)
    assert out["source"] in ("category", "popularity")
    assert "i7" not in ids(out) and len(out["items"]) == 2


def test_bundle_has_one_item_per_category_and_leaves_the_cart_out(ctx):
    out = bundle(ctx, ["i1"], size=3)
    chosen = ids(out)
    assert len(chosen) == 3 and "i1" not in chosen
    leaves = [ctx.leaf_idx[ctx.item_index(i)] for i in ["i1", *chosen]]
    assert len(set(leaves)) == 4
    assert chosen[0] == "i4"
    assert out["total_price"] == pytest.approx(
        sum(ctx.prices[ctx.item_index(i)] for i in ["i1", *chosen])
    )


def test_errors(ctx):
    with pytest.raises(UnknownItemError, match="'nope'"):
        complementary_items(ctx, ["i1", "nope"])
    with pytest.raises(ValueError, match="at least one"):
        complementary_items(ctx, [])
    with pytest.raises(ValueError, match="size"):
        bundle(ctx, "i1", size=0)
