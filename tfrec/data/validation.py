"""Validation of the data contract: every broken rule is found, located and either raised or counted.

`validate_tables` checks items, events, judgments and users (as read by `tfrec.data.readers`,
whose frames are indexed by the row number a user sees in the file) and returns typed, clean
frames. Each rule has a policy in `DataConfig.policies`:

- ``error``: after checking everything, raise `DataValidationError` listing every violation of
  every error-policy rule;
- ``drop``: remove the rows and count them in `DataReport.dropped[table][rule]`.

Rules: ``missing_value``, ``duplicate_item_id``, ``duplicate_user_id``, ``empty_title``,
``negative_price``, ``bad_number``, ``bad_timestamp``, ``unknown_event``, ``unknown_item``,
``unknown_user``, ``bad_position``, ``bad_relevance`` (and ``bad_encoding``, found by the readers).
The rule order, `Violation`, `DataValidationError` and `DataReport` live in
`tfrec.data.report`.

Items are validated (and dropped) first, so events of a dropped item then count as
``unknown_item``; users come before events for the same reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tfrec.config import DataConfig, ValidationPolicies
from tfrec.data import schema
from tfrec.data.report import RULES, DataReport, DataValidationError, Violation
from tfrec.data.schema import TableSchema

# --------------------------------------------------------------------------------------------
# Column checks (vectorised). Each returns a typed column and a boolean mask of bad rows.
# --------------------------------------------------------------------------------------------


def is_missing(s: pd.Series) -> pd.Series:
    """True where a value is absent: null, or a string that is empty after stripping."""
    miss = s.isna()
    if s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
        text = s[~miss].astype(str).str.strip()
        miss = miss.copy()
        miss.loc[text.index] = text.eq("")
    return miss.astype(bool)


def as_str(s: pd.Series) -> pd.Series:
    """A column as pandas strings; missing stays missing; integral floats lose their ``.0``."""
    if pd.api.types.is_float_dtype(s.dtype):
        finite = s.dropna()
        if len(finite) and np.all(np.mod(finite.to_numpy(), 1) == 0):
            s = s.astype("Int64")
    elif pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype(object)
    out = s.astype(object).where(s.notna(), None)
    return out.map(lambda v: v if v is None or isinstance(v, str) else str(v)).astype("str")


def to_number(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse numbers. Returns (float64 values, mask of present values that are not finite numbers)."""
    present = ~is_missing(s)
    if pd.api.types.is_bool_dtype(s.dtype):
        values = pd.Series(np.nan, index=s.index, dtype="float64")
        return values, present
    if pd.api.types.is_numeric_dtype(s.dtype):
        values = s.astype("float64")
    else:
        values = pd.to_numeric(s.where(present).astype(object), errors="coerce").astype("float64")
    bad = present & ~np.isfinite(values.fillna(np.inf))
    values = values.where(~bad)
    return values, bad.astype(bool)


def to_timestamp(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse timestamps to naive UTC ``datetime64[ns]``.

    Strings in ISO 8601 (or another unambiguous layout pandas reads) and datetime columns are
    accepted; a timezone-aware value is converted to UTC, a naive one is taken as UTC. Numbers
    are refused (their unit would be a guess). Returns (values, mask of present values that do
    not parse).
    """
    present = ~is_missing(s)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        values = s.dt.tz_convert("UTC").dt.tz_localize(None)
        return values.astype("datetime64[ns]"), pd.Series(False, index=s.index)
    if pd.api.types.is_datetime64_dtype(s.dtype):
        return s.astype("datetime64[ns]"), pd.Series(False, index=s.index)
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        values = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
        return values, present
    objs = s.where(present).astype(object)
    numeric_like = objs.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
    text = objs.where(~numeric_like).map(lambda v: v if v is None or pd.isna(v) else str(v))
    values = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    retry = present & values.isna() & ~numeric_like
    if retry.any():
        values.loc[retry] = pd.to_datetime(text[retry], utc=True, errors="coerce", format="mixed")
    values = values.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
    bad = present & values.isna()
    return values, bad.astype(bool)


# --------------------------------------------------------------------------------------------
# Per-table validation
# --------------------------------------------------------------------------------------------


class _Collector:
    """Collects violations of one table as (mask, rule, column, message-maker) batches."""

    def __init__(self, table: str, file: str, index: pd.Index) -> None:
        self.table = table
        self.file = file
        self.index = index
        self.batches: list[tuple[str, str | None, pd.Series, pd.Series, Any]] = []

    def add(
        self, rule: str, column: str | None, mask: pd.Series, values: pd.Series, message: Any
    ) -> None:
        """Record `rule` broken where `mask` is True; `message(value) -> str`."""
        mask = mask.fillna(False).astype(bool) if mask.dtype != bool else mask
        if mask.any():
            self.batches.append((rule, column, mask, values, message))

    def violations(self) -> list[Violation]:
        """Every recorded violation, in file order (row, then rule order)."""
        out = []
        for rule, column, mask, values, message in self.batches:
            rows = mask.index[mask.to_numpy()]
            for row, value in zip(rows, values[mask].tolist(), strict=True):
                value = None if _is_na_scalar(value) else value
                out.append(
                    Violation(self.file, _row_number(row), column, rule, value, message(value))
                )
        out.sort(key=lambda v: (v.row if v.row is not None else -1, _rule_rank(v.rule)))
        return out

    def apply(
        self, df: pd.DataFrame, policies: ValidationPolicies, report: DataReport
    ) -> tuple[pd.DataFrame, list[Violation]]:
        """Report everything; drop rows of drop-policy rules; return error-policy violations."""
        found = self.violations()
        report.violations.extend(found)
        errors = [v for v in found if _policy(policies, v.rule) == "error"]
        removed = pd.Series(False, index=df.index)
        by_rule = {}
        for rule, _, mask, _, _ in self.batches:
            if _policy(policies, rule) == "drop":
                by_rule[rule] = by_rule.get(rule, False) | mask
        for rule in sorted(by_rule, key=_rule_rank):
            new = by_rule[rule] & ~removed
            report.count_dropped(self.table, rule, int(new.sum()))
            removed |= new
        return df[~removed.to_numpy()], errors


def _fmt(v: Any) -> str:
    """A number as a user wrote it: whole floats without ``.0``."""
    if isinstance(v, float) and math.isfinite(v) and v == int(v):
        return str(int(v))
    return repr(v)


def _rule_rank(rule: str) -> int:
    return RULES.index(rule) if rule in RULES else len(RULES)


def _policy(policies: ValidationPolicies, rule: str) -> str:
    return getattr(policies, rule, "error")


def _is_na_scalar(v: Any) -> bool:
    try:
        return v is None or bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _row_number(row: Any) -> int | None:
    try:
        return int(row)
    except (TypeError, ValueError):
        return None


def _check_schema_columns(
    df: pd.DataFrame,
    table_schema: TableSchema,
    col: _Collector,
    numeric_extra: Iterable[str] = (),
) -> pd.DataFrame:
    """Type every contract column, recording missing/bad-number/bad-timestamp violations."""
    out = pd.DataFrame(index=df.index)
    for c in table_schema.columns:
        if c.name not in df.columns:
            out[c.name] = _empty_column(c.kind, df.index)
            continue
        s = df[c.name]
        missing = is_missing(s)
        if c.required:
            rule = "empty_title" if (table_schema.name == "items" and c.name == "title") else None
            if rule:
                col.add(
                    rule, c.name, missing, s, lambda v: f"title must be non-empty text, got {v!r}"
                )
            else:
                col.add(
                    "missing_value",
                    c.name,
                    missing,
                    s,
                    lambda v, n=c.name: f"{n} is required, got an empty value",
                )
        if c.kind in ("string", "text"):
            out[c.name] = as_str(s)
        elif c.kind in ("float", "int"):
            values, bad = to_number(s)
            col.add(
                "bad_number", c.name, bad, s, lambda v, n=c.name: f"{n} must be a number, got {v!r}"
            )
            out[c.name] = values
        elif c.kind == "timestamp":
            values, bad = to_timestamp(s)
            col.add(
                "bad_timestamp",
                c.name,
                bad,
                s,
                lambda v, n=c.name: (
                    f"{n} must be a date/time (ISO 8601, e.g. 2024-01-31 12:00:00), got {v!r}"
                ),
            )
            out[c.name] = values
        else:  # pragma: no cover - schema kinds are fixed
            raise ValueError(f"unknown column kind {c.kind!r} for {table_schema.name}.{c.name}")
    numeric_extra = set(numeric_extra)
    for name in df.columns:
        if name in out.columns:
            continue
        if name in numeric_extra:
            values, bad = to_number(df[name])
            col.add(
                "bad_number",
                name,
                bad,
                df[name],
                lambda v, n=name: f"{n} must be a number, got {v!r}",
            )
            out[name] = values
        else:
            out[name] = as_str(df[name])
    return out


def _empty_column(kind: str, index: pd.Index) -> pd.Series:
    if kind in ("string", "text"):
        return pd.Series(np.nan, index=index, dtype="str")
    if kind == "timestamp":
        return pd.Series(pd.NaT, index=index, dtype="datetime64[ns]")
    if kind == "int":
        return pd.Series(pd.NA, index=index, dtype="Int64")
    return pd.Series(np.nan, index=index, dtype="float64")


def _duplicates(s: pd.Series, missing: pd.Series) -> tuple[pd.Series, dict]:
    """Mask of rows whose key repeats an earlier row's; and key -> first row."""
    present = s[~missing]
    dup = present.duplicated(keep="first")
    first_rows = {}
    if dup.any():
        firsts = present[~dup]
        first_rows = dict(zip(firsts.tolist(), firsts.index.tolist(), strict=True))
    mask = pd.Series(False, index=s.index)
    mask.loc[dup.index] = dup.to_numpy()
    return mask, first_rows


def validate_items(
    df: pd.DataFrame,
    file: str,
    data_cfg: DataConfig,
    report: DataReport,
) -> tuple[pd.DataFrame, list[Violation]]:
    """Validate and type items. Returns (clean items, error-policy violations)."""
    col = _Collector("items", file, df.index)
    numeric = [k for k, kind in data_cfg.item_features.items() if kind == "numeric"]
    out = _check_schema_columns(df, schema.ITEMS, col, numeric_extra=numeric)
    if "title" in df.columns:
        missing_title = is_missing(df["title"])
        out.loc[~missing_title, "title"] = out.loc[~missing_title, "title"].str.strip()
    col.add(
        "negative_price",
        "price",
        out["price"] < 0,
        out["price"],
        lambda v: f"price must be >= 0, got {_fmt(v)}",
    )
    ids = out["item_id"]
    dup, first = _duplicates(ids, is_missing(ids))
    col.add(
        "duplicate_item_id",
        "item_id",
        dup,
        ids,
        lambda v: f"item_id {v!r} already appears at row {first.get(v)}",
    )
    return col.apply(out, data_cfg.policies, report)


def validate_users(
    df: pd.DataFrame, file: str, data_cfg: DataConfig, report: DataReport
) -> tuple[pd.DataFrame, list[Violation]]:
    """Validate users: `user_id` present and unique. Other columns are kept as strings."""
    col = _Collector("users", file, df.index)
    out = _check_schema_columns(df, schema.USERS, col)
    ids = out["user_id"]
    dup, first = _duplicates(ids, is_missing(ids))
    col.add(
        "duplicate_user_id",
        "user_id",
        dup,
        ids,
        lambda v: f"user_id {v!r} already appears at row {first.get(v)}",
    )
    return col.apply(out, data_cfg.policies, report)


def validate_events(
    df: pd.DataFrame,
    file: str,
    data_cfg: DataConfig,
    report: DataReport,
    known_items: pd.Index | set | None,
    known_users: pd.Index | set | None = None,
    table: str = "events",
) -> tuple[pd.DataFrame, list[Violation]]:
    """Validate and type events against the known (kept) items and, when given, users."""
    col = _Collector(table, file, df.index)
    out = _check_schema_columns(df, schema.EVENTS, col)
    allowed = list(schema.BUILTIN_EVENTS) + list(data_cfg.extra_event_names)
    ev = out["event"]
    col.add(
        "unknown_event",
        "event",
        ev.notna() & ~is_missing(ev) & ~ev.isin(allowed),
        ev,
        lambda v: (
            f"event must be one of {', '.join(allowed)} (or a name in data.extra_event_names), got {v!r}"
        ),
    )
    pos = out["position"]
    has_pos = pos.notna()
    bad_pos = has_pos & ((pos < 1) | (np.mod(pos.fillna(1), 1) != 0))
    col.add(
        "bad_position",
        "position",
        bad_pos,
        pos,
        lambda v: f"position must be a whole number >= 1 (1 = first shown), got {_fmt(v)}",
    )
    out["position"] = pos.where(~bad_pos).astype("Int64")
    _check_refs(col, out, known_items, known_users)
    return col.apply(out, data_cfg.policies, report)


def validate_judgments(
    df: pd.DataFrame,
    file: str,
    data_cfg: DataConfig,
    report: DataReport,
    known_items: pd.Index | set | None,
) -> tuple[pd.DataFrame, list[Violation]]:
    """Validate and type search judgments (`query`, `item_id`, `relevance` >= 0)."""
    col = _Collector("judgments", file, df.index)
    out = _check_schema_columns(df, schema.JUDGMENTS, col)
    rel = out["relevance"]
    col.add(
        "bad_relevance",
        "relevance",
        rel < 0,
        rel,
        lambda v: f"relevance must be >= 0, got {_fmt(v)}",
    )
    _check_refs(col, out, known_items, None)
    return col.apply(out, data_cfg.policies, report)


def _check_refs(
    col: _Collector,
    out: pd.DataFrame,
    known_items: pd.Index | set | None,
    known_users: pd.Index | set | None,
) -> None:
    if known_items is not None:
        ids = out["item_id"]
        col.add(
            "unknown_item",
            "item_id",
            ~is_missing(ids) & ~ids.isin(known_items),
            ids,
            lambda v: f"item_id {v!r} is not in the (kept) items",
        )
    if known_users is not None:
        ids = out["user_id"]
        col.add(
            "unknown_user",
            "user_id",
            ~is_missing(ids) & ~ids.isin(known_users),
            ids,
            lambda v: f"user_id {v!r} is not in the (kept) users",
        )


def validate_transactions(
    df: pd.DataFrame,
    file: str,
    data_cfg: DataConfig,
    report: DataReport,
    table_schema: TableSchema,
) -> tuple[pd.DataFrame, list[Violation]]:
    """Type a raw transaction log (`table_schema` is `tfrec.data.transactions.TRANSACTIONS`).

    Checks present values only (``missing_value`` for required columns, ``bad_number``,
    ``bad_timestamp``); a missing user or title is left to the declared cleaning steps.
    Returns (typed lines, error-policy violations); dropped rows are counted under
    ``report.dropped["transactions"]``.
    """
    col = _Collector("transactions", file, df.index)
    out = _check_schema_columns(df, table_schema, col)
    clean, errors = col.apply(out, data_cfg.policies, report)
    return clean, errors


def validate_tables(
    tables: Mapping[str, pd.DataFrame | None],
    data_cfg: DataConfig,
    files: Mapping[str, str] | None = None,
    report: DataReport | None = None,
) -> tuple[dict[str, pd.DataFrame | None], DataReport]:
    """Validate items, users, events and judgments together.

    Args:
        tables: mapping. ``items`` and ``events`` (required), ``judgments`` and ``users``
            (optional, may be None). Frames use contract column names; their index is the row
            number reported in violations (as `tfrec.data.readers.read_table` returns them).
        data_cfg: DataConfig. Its `policies`, `extra_event_names` and `item_features` are used.
        files: mapping. Table -> file name used in violations. Defaults to the table name.
        report: DataReport. Filled in place; a new one when None.

    Returns:
        (clean tables with a fresh 0-based index, the report).

    Raises:
        DataValidationError: listing every violation of every error-policy rule, after all
            tables were checked.
    """
    report = report if report is not None else DataReport()
    files = dict(files or {})
    errors: list[Violation] = []
    out: dict[str, pd.DataFrame | None] = {}

    def run(name: str, fn: Any, *args: Any) -> pd.DataFrame | None:
        df = tables.get(name)
        if df is None:
            return None
        report.rows_read.setdefault(name, len(df))
        clean, errs = fn(df, files.get(name, name), data_cfg, report, *args)
        errors.extend(errs)
        report.rows_kept[name] = len(clean)
        return clean

    if tables.get("items") is None or tables.get("events") is None:
        raise ValueError("validate_tables needs both `items` and `events` frames")
    items = run("items", validate_items)
    users = run("users", validate_users)
    known_items = pd.Index(items["item_id"].dropna().unique())
    known_users = None if users is None else pd.Index(users["user_id"].dropna().unique())
    events = run("events", validate_events, known_items, known_users)
    judgments = run("judgments", validate_judgments, known_items)
    if errors:
        raise DataValidationError(errors)
    for name, df in (
        ("items", items),
        ("users", users),
        ("events", events),
        ("judgments", judgments),
    ):
        out[name] = None if df is None else df.reset_index(drop=True)
    return out, report
