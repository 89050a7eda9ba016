"""Tests for tfrec/data/report.py: violations as text, the report as lines and plain data."""

from __future__ import annotations

from tfrec.data.report import DataReport, DataValidationError, Violation


def test_violation_text_and_report_dict() -> None:
    v = Violation(
        "path/items.csv", 7, "price", "negative_price", -3.5, "price must be >= 0, got -3.5"
    )
    assert str(v) == "path/items.csv:7:price: negative_price: price must be >= 0, got -3.5"
    assert str(Violation("f.csv", None, "title", "missing_column", None, "m")) == (
        "f.csv:title: missing_column: m"
    )
    r = DataReport(rows_read={"items": 3}, rows_kept={"items": 2}, violations=[v])
    r.count_dropped("items", "negative_price", 1)
    assert r.to_dict()["dropped"] == {"items": {"negative_price": 1}}
    assert r.to_dict()["violations"][0]["row"] == 7
    assert r.summary_lines()[0] == "items: read 3 rows, kept 2, dropped 1 (negative_price 1)"


def test_error_lists_every_violation_one_per_line() -> None:
    found = [
        Violation("items.csv", 2, "price", "bad_number", "x", "price must be a number, got 'x'"),
        Violation("items.csv", 5, "title", "empty_title", "", "title must be non-empty text"),
    ]
    err = DataValidationError(found)
    assert err.violations == found
    assert str(err).splitlines() == [
        "2 data violations:",
        "  items.csv:2:price: bad_number: price must be a number, got 'x'",
        "  items.csv:5:title: empty_title: title must be non-empty text",
    ]
    assert str(DataValidationError(found[:1], header="items.csv: bad")).startswith(
        "items.csv: bad:"
    )
