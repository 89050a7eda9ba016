"""Online Retail (UCI) mapped through configs/online_retail.yaml: cleaning counted, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import tfrec
from tfrec.data.readers import load_shop

REPO_ROOT = Path(__file__).resolve().parents[2]
ONLINE_RETAIL = REPO_ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"
STEPS = (
    "cancellations",
    "non_positive_quantity",
    "missing_title",
    "non_positive_price",
    "non_product",
    "missing_user",
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not ONLINE_RETAIL.exists(), reason=f"{ONLINE_RETAIL} is absent"),
]


@pytest.fixture(scope="module")
def shop():
    cfg = tfrec.load_config(REPO_ROOT / "configs" / "online_retail.yaml")
    return load_shop(cfg.data, base_dir=REPO_ROOT)


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(ONLINE_RETAIL, dtype=str, keep_default_na=False)


def test_every_cleaning_step_removes_rows_and_the_numbers_add_up(shop, raw) -> None:
    r = shop.report
    assert list(r.cleaning) == list(STEPS)
    assert all(r.cleaning[s] > 0 for s in STEPS), r.cleaning
    assert r.rows_read["transactions"] == len(raw) == 541_909
    removed = sum(r.cleaning.values()) + sum(r.dropped.get("transactions", {}).values())
    assert r.rows_read["transactions"] - removed == r.rows_kept["transactions"] == len(shop.events)
    # every cancellation line is removed by the first step
    assert r.cleaning["cancellations"] == raw["InvoiceNo"].str.startswith("C").sum()
    assert r.resolved["items_with_inconsistent_titles"] > 0
    assert r.rows_kept["items"] == len(shop.items) and r.rows_kept["events"] == len(shop.events)


def test_no_cancellations_returns_guests_or_non_products_remain(shop) -> None:
    ev = shop.events
    assert not ev["session_id"].str.startswith("C").any()
    assert (ev["quantity"] > 0).all()
    assert ev["user_id"].notna().all() and (ev["user_id"].str.strip() != "").all()
    assert not ev["user_id"].str.endswith(".0").any()
    assert not ev["item_id"].isin(["POST", "DOT", "M", "BANK CHARGES", "AMAZONFEE"]).any()
    assert not ev["item_id"].str.startswith("gift_").any()
    assert set(ev["event"]) == {"purchase"}
    assert ev["timestamp"].dtype == "datetime64[ns]"
    assert ev["timestamp"].min() >= pd.Timestamp("2010-12-01")
    assert ev["timestamp"].max() < pd.Timestamp("2011-12-10")


def test_each_item_has_one_title_a_price_and_a_first_sale(shop) -> None:
    items = shop.items
    assert items["item_id"].is_unique
    assert set(shop.events["item_id"]) == set(items["item_id"])
    assert items["title"].notna().all() and (items["title"].str.strip() != "").all()
    assert (items["price"] > 0).all()
    first_sale = shop.events.groupby("item_id")["timestamp"].min()
    assert (items.set_index("item_id")["created_at"] == first_sale).all()


def test_most_frequent_title_wins_over_the_latest(shop) -> None:
    # 21175 sold 664 times as "GIN + TONIC ..." and 37 times, lately, as "GIN AND TONIC ..."
    assert shop.items.set_index("item_id").loc["21175", "title"] == "GIN + TONIC DIET METAL SIGN"


def test_latest_title_resolution() -> None:
    cfg = tfrec.load_config(
        REPO_ROOT / "configs" / "online_retail.yaml",
        overrides={"data.transactions.cleaning.title_resolution": "latest"},
    )
    shop = load_shop(cfg.data, base_dir=REPO_ROOT)
    assert shop.items.set_index("item_id").loc["21175", "title"] == "GIN AND TONIC DIET METAL SIGN"
