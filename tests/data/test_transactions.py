"""The transactions source (tfrec/data/transactions.py): Online Retail (UCI) mapped through
configs/online_retail.yaml, cleaning counted, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import tfrec
from tfrec.data.sources import load_shop
from tfrec.data.transactions import load_transactions

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

ONLINE_RETAIL_MARKS = [
    pytest.mark.integration,
    pytest.mark.skipif(not ONLINE_RETAIL.exists(), reason=f"{ONLINE_RETAIL} is absent"),
]


def needs_online_retail(fn):
    """Integration tests on the real file skip when it is absent."""
    for mark in reversed(ONLINE_RETAIL_MARKS):
        fn = mark(fn)
    return fn


@pytest.fixture(scope="module")
def shop():
    cfg = tfrec.load_config(REPO_ROOT / "configs" / "online_retail.yaml")
    return load_shop(cfg.data, base_dir=REPO_ROOT)


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(ONLINE_RETAIL, dtype=str, keep_default_na=False)


@needs_online_retail
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


@needs_online_retail
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


@needs_online_retail
def test_each_item_has_one_title_a_price_and_a_first_sale(shop) -> None:
    items = shop.items
    assert items["item_id"].is_unique
    assert set(shop.events["item_id"]) == set(items["item_id"])
    assert items["title"].notna().all() and (items["title"].str.strip() != "").all()
    assert (items["price"] > 0).all()
    first_sale = shop.events.groupby("item_id")["timestamp"].min()
    assert (items.set_index("item_id")["created_at"] == first_sale).all()


@needs_online_retail
def test_most_frequent_title_wins_over_the_latest(shop) -> None:
    # 21175 sold 664 times as "GIN + TONIC ..." and 37 times, lately, as "GIN AND TONIC ..."
    assert shop.items.set_index("item_id").loc["21175", "title"] == "GIN + TONIC DIET METAL SIGN"


@needs_online_retail
def test_latest_title_resolution() -> None:
    cfg = tfrec.load_config(
        REPO_ROOT / "configs" / "online_retail.yaml",
        overrides={"data.transactions.cleaning.title_resolution": "latest"},
    )
    shop = load_shop(cfg.data, base_dir=REPO_ROOT)
    assert shop.items.set_index("item_id").loc["21175", "title"] == "GIN AND TONIC DIET METAL SIGN"


TINY_LOG = """InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,WHITE HEART ,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536366,85123A,WHITE HEART,2,2010-12-02 08:26:00,2.75,17850.0,United Kingdom
536367,85123A,HEART WHITE,1,2010-12-03 08:26:00,2.65,13047.0,United Kingdom
C536368,85123A,WHITE HEART,-1,2010-12-03 09:00:00,2.55,17850.0,United Kingdom
536369,71053,LANTERN,-3,2010-12-03 10:00:00,3.39,17850.0,United Kingdom
536370,71053,,5,2010-12-03 10:00:00,0,,United Kingdom
536371,71053,LANTERN,5,2010-12-03 11:00:00,0,13047.0,United Kingdom
536372,POST,POSTAGE,1,2010-12-03 12:00:00,18,13047.0,France
536373,gift_0001_10,Gift Voucher,1,2010-12-03 12:00:00,10,13047.0,France
536374,71053,LANTERN,4,2010-12-04 12:00:00,3.5,,United Kingdom
536375,71053,LANTERN,4,not a date,3.5,13047.0,United Kingdom
536376,71053,LANTERN,2,2010-12-05 12:00:00,3.0,13047.0,United Kingdom
"""


def test_tiny_transaction_log_every_step_counted(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text(TINY_LOG, encoding="utf-8")
    cfg = tfrec.load_config(
        REPO_ROOT / "configs" / "online_retail.yaml",
        overrides={"data.transactions.path": str(tmp_path / "log.csv")},
    )
    shop = load_shop(cfg.data)
    r = shop.report
    assert r.dropped == {"transactions": {"bad_timestamp": 1}}
    assert r.violations[0].row == 12 and r.violations[0].column == "timestamp"
    assert r.cleaning == {
        "cancellations": 1,
        "non_positive_quantity": 1,
        "missing_title": 1,
        "non_positive_price": 1,
        "non_product": 2,
        "missing_user": 1,
    }
    assert r.rows_read["transactions"] == 12 and r.rows_kept["transactions"] == 4
    assert list(shop.events["user_id"]) == ["17850", "17850", "13047", "13047"]
    items = shop.items.set_index("item_id")
    assert items.loc["85123A", "title"] == "WHITE HEART"  # 2 of 3 lines, trailing space stripped
    assert items.loc["85123A", "price"] == 2.65  # median unit price
    assert items.loc["71053", "created_at"] == pd.Timestamp("2010-12-05 12:00:00")
    assert r.resolved == {"items_with_inconsistent_titles": 1}


def test_load_transactions_gives_the_clean_tables_load_shop_wraps(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text(TINY_LOG, encoding="utf-8")
    cfg = tfrec.load_config(
        REPO_ROOT / "configs" / "online_retail.yaml",
        overrides={"data.transactions.path": str(tmp_path / "log.csv")},
    )
    clean, report = load_transactions(cfg.data.transactions, cfg.data)
    assert clean["judgments"] is None and clean["users"] is None
    shop = load_shop(cfg.data)
    pd.testing.assert_frame_equal(clean["items"], shop.items)
    pd.testing.assert_frame_equal(clean["events"], shop.events)
    assert report.to_dict() == shop.report.to_dict()
