"""Loading a shop from its configured source (files, the synthetic shop, a transaction log).

`load_shop` reads every table (`tfrec.data.readers`), validates them together
(`tfrec.data.validation`) and returns clean, typed frames with a `DataReport` of what was removed.

Example:

```python
from tfrec.config import load_config
from tfrec.core.log import echo
from tfrec.data.sources import load_shop

cfg = load_config("configs/online_retail.yaml")
shop = load_shop(cfg.data, base_dir=".")
echo("\\n".join(shop.report.summary_lines()))
```
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tfrec.config import DataConfig, TableSource
from tfrec.data import schema
from tfrec.data.readers import read_table, resolve_path
from tfrec.data.report import DataReport
from tfrec.data.transactions import load_transactions
from tfrec.data.validation import validate_tables

_SYNTHETIC_SUFFIXES = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}


@dataclass
class ShopData:
    """A validated shop: clean, typed frames in the contract's columns, and the report.

    Args:
        items: pd.DataFrame. `item_id`, `title`, `description`, `category`, `brand`, `price`,
            `created_at` and declared item features. Optional columns absent from the file are
            present and empty.
        events: pd.DataFrame. `user_id`, `item_id`, `event`, `timestamp`, `query`, `position`,
            `session_id`, `quantity`.
        judgments: pd.DataFrame | None. `query`, `item_id`, `relevance`, when given.
        users: pd.DataFrame | None. `user_id` and the file's other columns, when given.
        report: DataReport. Rows read and kept, what the policies dropped, cleaning counts.
    """

    items: pd.DataFrame
    events: pd.DataFrame
    judgments: pd.DataFrame | None
    users: pd.DataFrame | None
    report: DataReport


def load_shop(
    data_cfg: DataConfig,
    base_dir: Path | None = None,
    synthetic_dir: Path | None = None,
) -> ShopData:
    """Read and validate a shop as `data_cfg.source` says.

    Args:
        data_cfg: DataConfig. ``source: files`` reads `items`, `events` and optional
            `judgments`/`users`; ``source: synthetic`` reads ``items``, ``events``,
            ``judgments`` and ``users`` (``.parquet``, ``.csv`` or ``.jsonl``) that the synthetic
            generator wrote into `synthetic_dir`; ``source: transactions`` derives items and
            events from one raw transaction log.
        base_dir: Path | None. Relative paths in the config resolve against it.
        synthetic_dir: Path | None. Where the synthetic shop's files are (source synthetic).

    Returns:
        ShopData with clean, typed frames (fresh 0-based index) and the report.

    Raises:
        DataValidationError: every violation of every rule whose policy is ``error``.

    Example:
        >>> shop = load_shop(cfg.data, base_dir=Path.cwd(), synthetic_dir=run.raw)
        >>> shop.report.rows_kept["items"]
    """
    if data_cfg.source == "transactions":
        if data_cfg.transactions is None:
            raise ValueError("data.source is transactions but data.transactions is not set")
        clean, report = load_transactions(data_cfg.transactions, data_cfg, base_dir)
        return ShopData(clean["items"], clean["events"], None, None, report)
    if data_cfg.source == "files":
        sources = {
            "items": data_cfg.items,
            "events": data_cfg.events,
            "judgments": data_cfg.judgments,
            "users": data_cfg.users,
        }
        for name in ("items", "events"):
            if sources[name] is None:
                raise ValueError(f"data.source is files but data.{name} is not set")
    elif data_cfg.source == "synthetic":
        sources = _synthetic_sources(data_cfg, synthetic_dir)
        base_dir = None
    else:
        raise ValueError(
            f"data.source must be files, synthetic or transactions, got {data_cfg.source!r}"
        )

    report = DataReport()
    frames: dict[str, pd.DataFrame | None] = {}
    files: dict[str, str] = {}
    extras = {"items": list(data_cfg.item_features), "events": [], "judgments": [], "users": None}
    for name, src in sources.items():
        if src is None:
            frames[name] = None
            continue
        frames[name] = read_table(
            src,
            schema.TABLES[name],
            base_dir,
            policies=data_cfg.policies,
            report=report,
            extra_columns=extras[name],
        )
        files[name] = str(resolve_path(src.path, base_dir))
    clean, report = validate_tables(frames, data_cfg, files, report)
    return ShopData(clean["items"], clean["events"], clean["judgments"], clean["users"], report)


def _synthetic_sources(
    data_cfg: DataConfig, synthetic_dir: Path | None
) -> dict[str, TableSource | None]:
    if synthetic_dir is None:
        raise ValueError(
            "data.source is synthetic: pass synthetic_dir, the folder the synthetic shop "
            "generator wrote items/events/judgments/users into"
        )
    folder = Path(synthetic_dir)
    preferred = [data_cfg.synthetic.format] + [
        f for f in _SYNTHETIC_SUFFIXES if f != data_cfg.synthetic.format
    ]
    out: dict[str, TableSource | None] = {}
    for name in ("items", "events", "judgments", "users"):
        found = None
        for fmt in preferred:
            for suffix in (_SYNTHETIC_SUFFIXES[fmt], _SYNTHETIC_SUFFIXES[fmt] + ".gz"):
                p = folder / f"{name}{suffix}"
                if p.exists() and found is None:
                    found = TableSource(path=str(p), format=fmt)
        if found is None and name in ("items", "events"):
            there = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
            raise FileNotFoundError(
                f"{folder}: no {name}.parquet, {name}.csv or {name}.jsonl in the synthetic shop "
                f"folder (files there: {', '.join(there) or 'none'}); generate the shop first"
            )
        out[name] = found
    return out
