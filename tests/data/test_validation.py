"""Validation rules: each rule under policy error (named file:row:column: rule) and drop (counted)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from tfrec.config import DataConfig, TableSource, ValidationPolicies
from tfrec.data.report import DataValidationError
from tfrec.data.sources import load_shop

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

ITEMS = "item_id,title,price,created_at\nI1,Mug,2.5,2024-01-01\nI2,Teapot,10,2024-01-02\n"
EVENTS = (
    "user_id,item_id,event,timestamp,position,quantity\n"
    "U1,I1,click,2024-01-05 10:00:00,1,1\n"
    "U2,I2,purchase,2024-01-06 11:00:00,2,1\n"
)
JUDGMENTS = "query,item_id,relevance\nmug,I1,2\n"
USERS = "user_id\nU1\nU2\n"
BASE = {"items": ITEMS, "events": EVENTS, "judgments": JUDGMENTS, "users": USERS}

# rule -> (table, appended line, column); the appended line is line 4 of items/events/users
# and line 3 of judgments (header = line 1).
CASES = {
    "missing_value": ("events", ",I1,click,2024-01-05 10:00:00,1,1", "user_id"),
    "duplicate_item_id": ("items", "I1,Other Mug,1,2024-01-01", "item_id"),
    "empty_title": ("items", 'I3,"   ",1,2024-01-01', "title"),
    "negative_price": ("items", "I3,Cup,-3.5,2024-01-01", "price"),
    "bad_number": ("items", "I3,Cup,abc,2024-01-01", "price"),
    "bad_timestamp": ("events", "U1,I1,click,the 5th of May,1,1", "timestamp"),
    "unknown_event": ("events", "U1,I1,teleport,2024-01-05 10:00:00,1,1", "event"),
    "unknown_item": ("events", "U1,NOPE,click,2024-01-05 10:00:00,1,1", "item_id"),
    "unknown_user": ("events", "U9,I1,click,2024-01-05 10:00:00,1,1", "user_id"),
    "bad_position": ("events", "U1,I1,click,2024-01-05 10:00:00,0,1", "position"),
    "bad_relevance": ("judgments", "mug,I2,-1", "relevance"),
    "duplicate_user_id": ("users", "U1", "user_id"),
}


def write_shop(folder: Path, extra: dict[str, str] | None = None) -> DataConfig:
    """Write the valid base shop (plus appended lines) and return a files config for it."""
    for name, text in BASE.items():
        line = (extra or {}).get(name)
        (folder / f"{name}.csv").write_text(text + (line + "\n" if line else ""), encoding="utf-8")
    return DataConfig(
        source="files",
        items=TableSource("items.csv"),
        events=TableSource("events.csv"),
        judgments=TableSource("judgments.csv"),
        users=TableSource("users.csv"),
    )


def test_valid_shop_loads_with_contract_dtypes(tmp_path: Path) -> None:
    shop = load_shop(write_shop(tmp_path), base_dir=tmp_path)
    assert len(shop.items) == 2 and len(shop.events) == 2
    assert shop.items["price"].dtype == "float64"
    assert shop.items["created_at"].dtype == "datetime64[ns]"
    assert shop.events["timestamp"].dtype == "datetime64[ns]"
    assert shop.events["position"].dtype == "Int64"
    assert shop.events["quantity"].dtype == "float64"
    assert pd.api.types.is_string_dtype(shop.events["user_id"])
    # optional contract columns absent from the file are present and empty
    assert shop.events["query"].isna().all() and shop.items["brand"].isna().all()
    assert shop.report.violations == [] and shop.report.dropped == {}
    assert shop.report.rows_read == shop.report.rows_kept


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_error_names_file_row_column_and_rule(tmp_path: Path, rule: str) -> None:
    table, line, column = CASES[rule]
    cfg = write_shop(tmp_path, {table: line})
    with pytest.raises(DataValidationError) as err:
        load_shop(cfg, base_dir=tmp_path)
    row = 3 if table == "judgments" else 4
    expected = f"{tmp_path / (table + '.csv')}:{row}:{column}: {rule}:"
    assert expected in str(err.value)
    assert [(v.row, v.column, v.rule) for v in err.value.violations] == [(row, column, rule)]


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_drop_removes_row_and_counts_it(tmp_path: Path, rule: str) -> None:
    table, line, _ = CASES[rule]
    cfg = write_shop(tmp_path, {table: line})
    cfg.policies = dataclasses.replace(ValidationPolicies(), **{rule: "drop"})
    shop = load_shop(cfg, base_dir=tmp_path)
    frame = getattr(shop, table)
    base_rows = BASE[table].count("\n") - 1
    assert len(frame) == base_rows
    assert shop.report.dropped == {table: {rule: 1}}
    assert shop.report.rows_read[table] == base_rows + 1
    assert shop.report.rows_kept[table] == base_rows
    assert [v.rule for v in shop.report.violations] == [rule]


def test_events_of_dropped_items_become_unknown_items(tmp_path: Path) -> None:
    cfg = write_shop(tmp_path, {"items": "I3,Cup,-1,2024-01-01"})
    (tmp_path / "events.csv").write_text(
        EVENTS + "U1,I3,click,2024-01-07 09:00:00,1,1\n", encoding="utf-8"
    )
    cfg.policies = ValidationPolicies(negative_price="drop", unknown_item="drop")
    shop = load_shop(cfg, base_dir=tmp_path)
    assert "I3" not in set(shop.items["item_id"]) and "I3" not in set(shop.events["item_id"])
    assert shop.report.dropped == {"items": {"negative_price": 1}, "events": {"unknown_item": 1}}


def test_unknown_item_error_while_items_are_dropped(tmp_path: Path) -> None:
    cfg = write_shop(tmp_path, {"items": "I3,Cup,-1,2024-01-01"})
    (tmp_path / "events.csv").write_text(
        EVENTS + "U1,I3,click,2024-01-07 09:00:00,1,1\n", encoding="utf-8"
    )
    cfg.policies = ValidationPolicies(negative_price="drop")
    with pytest.raises(DataValidationError) as err:
        load_shop(cfg, base_dir=tmp_path)
    assert [(v.file.endswith("events.csv"), v.row, v.rule) for v in err.value.violations] == [
        (True, 4, "unknown_item")
    ]


def test_row_breaking_two_drop_rules_is_counted_once(tmp_path: Path) -> None:
    cfg = write_shop(tmp_path, {"events": ",I1,teleport,2024-01-05 10:00:00,1,1"})
    cfg.policies = ValidationPolicies(missing_value="drop", unknown_event="drop")
    shop = load_shop(cfg, base_dir=tmp_path)
    assert shop.report.dropped == {"events": {"missing_value": 1}}
    assert {v.rule for v in shop.report.violations} == {"missing_value", "unknown_event"}
    r = shop.report
    assert r.rows_read["events"] - sum(r.dropped["events"].values()) == r.rows_kept["events"]


def test_extra_event_names_are_accepted(tmp_path: Path) -> None:
    cfg = write_shop(tmp_path, {"events": "U1,I1,wishlist,2024-01-05 10:00:00,1,1"})
    cfg.extra_event_names = ["wishlist"]
    assert "wishlist" in set(load_shop(cfg, base_dir=tmp_path).events["event"])


BROKEN_EXPECTED = {
    ("items.csv", 3, "price", "negative_price"),
    ("items.csv", 4, "item_id", "duplicate_item_id"),
    ("items.csv", 5, "title", "empty_title"),
    ("items.csv", 6, "price", "bad_number"),
    ("items.csv", 7, "created_at", "bad_timestamp"),
    ("items.csv", 8, "item_id", "missing_value"),
    ("events.csv", 4, "item_id", "unknown_item"),
    ("events.csv", 5, "event", "unknown_event"),
    ("events.csv", 6, "timestamp", "bad_timestamp"),
    ("events.csv", 7, "user_id", "missing_value"),
    ("events.csv", 8, "position", "bad_position"),
    ("events.csv", 9, "position", "bad_number"),
    ("judgments.csv", 3, "relevance", "bad_relevance"),
    ("judgments.csv", 4, "relevance", "bad_number"),
    ("judgments.csv", 5, "query", "missing_value"),
    ("judgments.csv", 6, "item_id", "unknown_item"),
}


def broken_config() -> DataConfig:
    return DataConfig(
        source="files",
        items=TableSource("items.csv"),
        events=TableSource("events.csv"),
        judgments=TableSource("judgments.csv"),
    )


def test_broken_fixture_reports_every_violation_at_once() -> None:
    with pytest.raises(DataValidationError) as err:
        load_shop(broken_config(), base_dir=FIXTURES / "broken")
    found = {(Path(v.file).name, v.row, v.column, v.rule) for v in err.value.violations}
    assert found == BROKEN_EXPECTED
    message = str(err.value)
    assert message.startswith("16 data violations:")
    for v in err.value.violations:
        assert str(v) in message
    assert f"{FIXTURES / 'broken' / 'items.csv'}:3:price: negative_price: " in message


def test_broken_fixture_with_all_drop_policies_keeps_only_clean_rows() -> None:
    cfg = broken_config()
    cfg.policies = ValidationPolicies(
        **{f.name: "drop" for f in dataclasses.fields(ValidationPolicies)}
    )
    shop = load_shop(cfg, base_dir=FIXTURES / "broken")
    # A2 (negative price) is dropped, so its click and judgment become unknown_item too
    assert list(shop.items["item_id"]) == ["A1", "A6"]
    assert list(shop.events.index) == [0] and shop.events.loc[0, "item_id"] == "A1"
    assert list(shop.judgments["item_id"]) == ["A1"]
    r = shop.report
    assert r.dropped["events"]["unknown_item"] == 2
    for table in ("items", "events", "judgments"):
        assert r.rows_read[table] - sum(r.dropped[table].values()) == r.rows_kept[table]
    assert len(r.violations) == 18  # the 16 above + 2 cascaded unknown_item
