"""Readers: formats, column mapping, missing columns, encodings, row numbers, shop sources."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pytest

from tfrec.config import DataConfig, TableSource, ValidationPolicies
from tfrec.data import schema
from tfrec.data.readers import detect_format, read_table
from tfrec.data.report import DataReport, DataValidationError
from tfrec.data.sources import load_shop

ITEMS = pd.DataFrame(
    {
        "item_id": ["I1", "I2", "007"],
        "title": ["Mug", "Teapot", "Spy Glass"],
        "price": [2.5, 10.0, 7.0],
        "created_at": ["2024-01-01 00:00:00", "2024-01-02 00:00:00", "2024-01-03 00:00:00"],
    }
)
EVENTS = pd.DataFrame(
    {
        "user_id": ["U1", "U2"],
        "item_id": ["I1", "007"],
        "event": ["click", "purchase"],
        "timestamp": ["2024-02-01 10:00:00", "2024-02-02 11:30:00"],
    }
)


def write(df: pd.DataFrame, path: Path) -> Path:
    fmt = detect_format(path)
    if fmt == "csv":
        df.to_csv(path, index=False)
    elif fmt == "parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_json(path, orient="records", lines=True)
    return path


@pytest.mark.parametrize(
    ("name", "first_row"),
    [("items.csv", 2), ("items.csv.gz", 2), ("items.parquet", 1), ("items.jsonl", 1)],
)
def test_all_formats_read_the_same_table(tmp_path: Path, name: str, first_row: int) -> None:
    df = read_table(write(ITEMS, tmp_path / name), schema.ITEMS)
    assert list(df.columns) == list(ITEMS.columns)
    assert list(df.index) == [first_row, first_row + 1, first_row + 2]
    assert [str(v) for v in df["item_id"]] == ["I1", "I2", "007"]  # leading zeros kept
    assert [float(v) for v in df["price"]] == [2.5, 10.0, 7.0]


def test_format_from_config_overrides_extension(tmp_path: Path) -> None:
    path = tmp_path / "items.data"
    ITEMS.to_json(path, orient="records", lines=True)
    with pytest.raises(ValueError, match="cannot tell the format"):
        read_table(path, schema.ITEMS)
    assert len(read_table(TableSource(str(path), format="jsonl"), schema.ITEMS)) == 3


def test_column_mapping_and_declared_extra_columns(tmp_path: Path) -> None:
    raw = ITEMS.rename(columns={"item_id": "StockCode", "title": "Description"})
    raw["colour"] = ["red", "white", "black"]
    raw["junk"] = [1, 2, 3]
    write(raw, tmp_path / "items.csv")
    src = TableSource("items.csv", columns={"item_id": "StockCode", "title": "Description"})
    df = read_table(src, schema.ITEMS, base_dir=tmp_path, extra_columns=["colour"])
    assert list(df.columns) == ["item_id", "title", "price", "created_at", "colour"]
    assert list(df["title"]) == ["Mug", "Teapot", "Spy Glass"]
    # without a declaration every column is kept
    assert "junk" in read_table(src, schema.ITEMS, base_dir=tmp_path).columns


def test_missing_required_column_names_file_column_and_columns_there(tmp_path: Path) -> None:
    path = write(ITEMS.drop(columns=["title"]), tmp_path / "items.csv")
    with pytest.raises(DataValidationError) as err:
        read_table(path, schema.ITEMS)
    msg = str(err.value)
    assert f"{path}:title: missing_column:" in msg
    assert "columns there: item_id, price, created_at" in msg


def test_mapping_to_absent_column_and_missing_feature_are_errors(tmp_path: Path) -> None:
    path = write(ITEMS, tmp_path / "items.csv")
    with pytest.raises(DataValidationError, match=r"maps title to column 'Desc'"):
        read_table(TableSource(str(path), columns={"title": "Desc"}), schema.ITEMS)
    with pytest.raises(DataValidationError, match=r"declared feature column 'colour'"):
        read_table(path, schema.ITEMS, extra_columns=["colour"])


def test_bad_encoding_error_lists_every_line(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(
        b"item_id,title\nI1,Mug\nI2,Caf\xe9 cup\nI3,Teapot\nI4,Cr\xe8me jug\nI5,Plate\n"
    )
    with pytest.raises(DataValidationError) as err:
        read_table(path, schema.ITEMS)
    assert [(v.row, v.rule) for v in err.value.violations] == [
        (3, "bad_encoding"),
        (5, "bad_encoding"),
    ]
    assert f"{path}:3: bad_encoding: bytes b'\\xe9'" in str(err.value)


def test_bad_encoding_drop_counts_lines_and_keeps_row_numbers(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(
        b"item_id,title\nI1,Mug\nI2,Caf\xe9 cup\nI3,Teapot\nI4,Cr\xe8me jug\nI5,Plate\n"
    )
    report = DataReport()
    df = read_table(
        path, schema.ITEMS, policies=ValidationPolicies(bad_encoding="drop"), report=report
    )
    assert list(df["item_id"]) == ["I1", "I3", "I5"]
    assert list(df.index) == [2, 4, 6]
    assert report.rows_read["items"] == 5 and report.dropped == {"items": {"bad_encoding": 2}}
    # the declared encoding reads every line
    latin = read_table(TableSource(str(path), encoding="latin-1"), schema.ITEMS)
    assert latin.loc[3, "title"] == "Café cup"


def test_csv_row_numbers_survive_blank_lines_and_quoted_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(
        'item_id,title,price\nI1,"Two\nline title",1\n\nI2,Teapot,-4\n', encoding="utf-8"
    )
    cfg = DataConfig(source="files", items=TableSource(str(path)), events=TableSource("e.csv"))
    (tmp_path / "e.csv").write_text("user_id,item_id,event,timestamp\n", encoding="utf-8")
    df = read_table(path, schema.ITEMS)
    assert list(df.index) == [2, 5]
    with pytest.raises(DataValidationError, match=rf"{path}:5:price: negative_price"):
        load_shop(cfg, base_dir=tmp_path)


def test_malformed_csv_and_jsonl_lines_are_named(tmp_path: Path) -> None:
    csv_path = tmp_path / "items.csv"
    csv_path.write_text("item_id,title\nI1,Mug\nI2,Tea,pot\nI3,Jug,x,y\n", encoding="utf-8")
    with pytest.raises(DataValidationError) as err:
        read_table(csv_path, schema.ITEMS)
    assert [(v.row, v.rule) for v in err.value.violations] == [(3, "bad_line"), (4, "bad_line")]
    jsonl_path = tmp_path / "items.jsonl"
    jsonl_path.write_text(
        '{"item_id": "I1", "title": "Mug"}\n\n{"item_id": "I2", "title": \n[1, 2]\n',
        encoding="utf-8",
    )
    with pytest.raises(DataValidationError) as err:
        read_table(jsonl_path, schema.ITEMS)
    assert [(v.row, v.rule) for v in err.value.violations] == [(3, "bad_json"), (4, "bad_json")]


def test_load_shop_synthetic_detects_file_formats(tmp_path: Path) -> None:
    write(ITEMS, tmp_path / "items.parquet")
    write(EVENTS, tmp_path / "events.jsonl")
    write(
        pd.DataFrame({"query": ["mug"], "item_id": ["I1"], "relevance": [2]}),
        tmp_path / "judgments.csv",
    )
    shop = load_shop(DataConfig(source="synthetic"), synthetic_dir=tmp_path)
    assert len(shop.items) == 3 and len(shop.events) == 2 and len(shop.judgments) == 1
    assert shop.users is None
    assert shop.events["timestamp"].iloc[1] == pd.Timestamp("2024-02-02 11:30:00")
    with pytest.raises(FileNotFoundError, match="no items.parquet, items.csv or items.jsonl"):
        load_shop(DataConfig(source="synthetic"), synthetic_dir=tmp_path / "nothing")


def test_timezones_become_naive_utc_and_parquet_datetimes_pass(tmp_path: Path) -> None:
    events = EVENTS.assign(timestamp=["2024-02-01T10:00:00+02:00", "2024-02-02T11:30:00Z"])
    write(events, tmp_path / "events.csv")
    items = ITEMS.assign(created_at=pd.to_datetime(ITEMS["created_at"]))
    write(items, tmp_path / "items.parquet")
    cfg = DataConfig(
        source="files", items=TableSource("items.parquet"), events=TableSource("events.csv")
    )
    shop = load_shop(cfg, base_dir=tmp_path)
    assert list(shop.events["timestamp"]) == [
        pd.Timestamp("2024-02-01 08:00:00"),
        pd.Timestamp("2024-02-02 11:30:00"),
    ]
    assert shop.items["created_at"].dtype == "datetime64[ns]"


def test_gzip_csv_is_read_through_the_same_checks(tmp_path: Path) -> None:
    path = tmp_path / "items.csv.gz"
    path.write_bytes(gzip.compress(b"item_id,title\nI1,Mug\nI2,\xff\n"))
    with pytest.raises(DataValidationError, match=r"items.csv.gz:3: bad_encoding"):
        read_table(path, schema.ITEMS)
