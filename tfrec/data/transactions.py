"""The transactions source: a raw transaction log (Online Retail style) into items and events.

One row per invoice line (item, title, customer, invoice, time, quantity, unit price) is typed,
cleaned by the declared steps (`TransactionsSource.cleaning`), mapped to one item per product and
one event per line, and validated as the contract's items and events.

Example:

```python
from tfrec.config import load_config
from tfrec.data.transactions import load_transactions

cfg = load_config("configs/online_retail.yaml")
clean, report = load_transactions(cfg.data.transactions, cfg.data, base_dir=".")
```
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tfrec.config import DataConfig, TableSource, TransactionsSource
from tfrec.data.readers import read_table, resolve_path
from tfrec.data.report import DataReport, DataValidationError
from tfrec.data.schema import Column, TableSchema
from tfrec.data.validation import is_missing, validate_tables, validate_transactions

# A raw transaction log (one row per invoice line), before it is mapped into items and events.
TRANSACTIONS = TableSchema(
    "transactions",
    (
        Column("item_id", "string", True),
        Column("title", "text", False),
        Column("user_id", "string", False),
        Column("session_id", "string", True),
        Column("timestamp", "timestamp", True),
        Column("quantity", "float", True),
        Column("price", "float", True),
    ),
)


def load_transactions(
    tx: TransactionsSource, data_cfg: DataConfig, base_dir: Path | None = None
) -> tuple[dict[str, pd.DataFrame | None], DataReport]:
    """Read, type and clean a transaction log; map it to items and one event per cleaned line.

    Args:
        tx: TransactionsSource. The file, its column mapping, encoding and cleaning steps.
        data_cfg: DataConfig. Its `policies`, `extra_event_names` and `item_features`.
        base_dir: Path | None. A relative `tx.path` resolves against it.

    Returns:
        (clean tables: `items` and `events` as `validate_tables` returns them, with
        `judgments` and `users` None; the report with the cleaning counts).

    Raises:
        DataValidationError: every violation of every rule whose policy is ``error``.

    Example:
        >>> clean, report = load_transactions(cfg.data.transactions, cfg.data, Path("."))
    """
    report = DataReport()
    src = TableSource(
        path=tx.path, format=tx.format, columns=dict(tx.columns), encoding=tx.encoding
    )
    file = str(resolve_path(tx.path, base_dir))
    raw = read_table(
        src, TRANSACTIONS, base_dir, policies=data_cfg.policies, report=report, extra_columns=[]
    )
    lines, errors = validate_transactions(raw, file, data_cfg, report, TRANSACTIONS)
    if errors:
        raise DataValidationError(errors)
    lines = clean_transactions(lines, tx, report)
    report.rows_kept["transactions"] = len(lines)
    items, events = transactions_to_tables(lines, tx, report)
    clean, report = validate_tables(
        {"items": items, "events": events},
        data_cfg,
        {"items": f"{file} (items derived from it)", "events": file},
        report,
    )
    return clean, report


def clean_transactions(
    lines: pd.DataFrame, tx: TransactionsSource, report: DataReport
) -> pd.DataFrame:
    """Apply the declared cleaning steps in order, counting the rows each removes.

    Steps (each when enabled in `tx.cleaning`), with their `report.cleaning` keys:
    ``cancellations`` (session id starts with `cancellation_prefix`), ``non_positive_quantity``
    (returns), ``missing_title``, ``non_positive_price``, ``non_product`` (ids in
    `non_product_item_ids` or fully matching `non_product_item_pattern`), ``missing_user``
    (guest checkouts). User ids written as floats (``17850.0``) become ``17850``.

    Args:
        lines: pd.DataFrame. The typed log (`validate_transactions`' output).
        tx: TransactionsSource. Its `cleaning` steps.
        report: DataReport. Receives the rows each step removed in `cleaning`.

    Returns:
        The remaining lines.

    Example:
        >>> lines = clean_transactions(typed_lines, cfg.data.transactions, DataReport())
    """
    c = tx.cleaning
    df = lines.copy()
    df["user_id"] = df["user_id"].str.replace(r"^(\d+)\.0+$", r"\1", regex=True)
    df["title"] = df["title"].str.strip()
    steps = []
    if c.drop_cancellations and c.cancellation_prefix:
        steps.append(
            ("cancellations", lambda d: d["session_id"].str.startswith(c.cancellation_prefix))
        )
    if c.drop_non_positive_quantity:
        steps.append(("non_positive_quantity", lambda d: d["quantity"] <= 0))
    if c.drop_missing_title:
        steps.append(("missing_title", lambda d: is_missing(d["title"])))
    if c.drop_non_positive_price:
        steps.append(("non_positive_price", lambda d: d["price"] <= 0))
    if c.non_product_item_ids or c.non_product_item_pattern:

        def non_product(d: pd.DataFrame) -> pd.Series:
            mask = d["item_id"].isin(c.non_product_item_ids)
            if c.non_product_item_pattern:
                mask |= (
                    d["item_id"]
                    .str.fullmatch(c.non_product_item_pattern)
                    .fillna(False)
                    .astype(bool)
                )
            return mask

        steps.append(("non_product", non_product))
    if c.drop_missing_user:
        steps.append(("missing_user", lambda d: is_missing(d["user_id"])))
    for name, fn in steps:
        mask = fn(df).fillna(False).astype(bool)
        report.cleaning[name] = int(mask.sum())
        df = df[~mask.to_numpy()]
    return df


def transactions_to_tables(
    lines: pd.DataFrame, tx: TransactionsSource, report: DataReport | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Items (one title each, median unit price, first sale) and one event per line.

    When an item's lines carry several titles, `tx.cleaning.title_resolution` picks one:
    ``most_frequent`` (ties go to the most recent) or ``latest``; the number of such items goes
    to ``report.resolved["items_with_inconsistent_titles"]``.

    Args:
        lines: pd.DataFrame. Cleaned lines (`clean_transactions`' output).
        tx: TransactionsSource. Its `event` name and `cleaning.title_resolution`.
        report: DataReport | None. Receives the count of items with inconsistent titles.

    Returns:
        (items with `item_id`, `title`, `price`, `created_at`; events, one per line).

    Example:
        >>> items, events = transactions_to_tables(lines, cfg.data.transactions)
    """
    titled = lines[~is_missing(lines["title"])]
    if tx.cleaning.title_resolution == "most_frequent":
        counts = (
            titled.groupby(["item_id", "title"], sort=False)
            .agg(n=("timestamp", "size"), last=("timestamp", "max"))
            .reset_index()
            .sort_values(["item_id", "n", "last"], ascending=[True, False, False], kind="stable")
        )
        titles = counts.drop_duplicates("item_id").set_index("item_id")["title"]
    else:
        ordered = titled.assign(_order=np.arange(len(titled))).sort_values(
            ["timestamp", "_order"], kind="stable"
        )
        titles = ordered.drop_duplicates("item_id", keep="last").set_index("item_id")["title"]
    g = lines.groupby("item_id", sort=True)
    items = pd.DataFrame(
        {
            "title": titles.reindex(g.size().index),
            "price": g["price"].median(),
            "created_at": g["timestamp"].min(),
        }
    )
    items.index.name = "item_id"
    items = items.reset_index()
    items.index = pd.RangeIndex(1, len(items) + 1, name="row")
    events = pd.DataFrame(
        {
            "user_id": lines["user_id"],
            "item_id": lines["item_id"],
            "event": tx.event,
            "timestamp": lines["timestamp"],
            "session_id": lines["session_id"],
            "quantity": lines["quantity"],
        },
        index=lines.index,
    )
    if report is not None:
        per_item = titled.groupby("item_id")["title"].nunique()
        report.resolved["items_with_inconsistent_titles"] = int((per_item > 1).sum())
    return items, events
