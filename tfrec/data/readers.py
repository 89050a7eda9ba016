"""Readers: CSV, Parquet and JSON Lines files into the data contract, validated.

`read_table` reads one file through pandas, maps its column names to the contract's and checks
that the required columns are there; the frame it returns is indexed by the row number a user
sees in the file (CSV: the line number, header = line 1; JSON Lines: the line number; Parquet:
the 1-based row). `load_shop` reads a whole shop (from files, from the synthetic shop's
directory, or from one raw transaction log such as Online Retail), validates it with
`tfrec.data.validation` and returns clean, typed frames with a `DataReport` of what was removed.

Example:

```python
from tfrec.config import load_config
from tfrec.data.readers import load_shop

cfg = load_config("configs/online_retail.yaml")
shop = load_shop(cfg.data, base_dir=".")
print("\\n".join(shop.report.summary_lines()))
```
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tfrec.config import DataConfig, TableSource, TransactionsSource, ValidationPolicies
from tfrec.data import schema
from tfrec.data.schema import Column, TableSchema
from tfrec.data.validation import (
    DataReport,
    DataValidationError,
    Violation,
    is_missing,
    validate_tables,
    validate_transactions,
)

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

_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_COMPRESSIONS = {".gz": gzip.decompress, ".bz2": bz2.decompress, ".xz": lzma.decompress}
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


# --------------------------------------------------------------------------------------------
# One table
# --------------------------------------------------------------------------------------------


def detect_format(path: Path, fmt: str = "auto") -> str:
    """`csv`, `parquet` or `jsonl`: `fmt` when given, else from the extension (``.csv.gz`` too)."""
    if fmt != "auto":
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSIONS:
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[suffixes[-1]]
    raise ValueError(
        f"{path}: cannot tell the format from the extension; name the file .csv, .csv.gz, "
        f".parquet or .jsonl, or set `format: csv | parquet | jsonl` in the config"
    )


def read_table(
    source: TableSource | str | Path,
    schema: TableSchema,
    base_dir: Path | None = None,
    *,
    policies: ValidationPolicies | None = None,
    report: DataReport | None = None,
    extra_columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read one table file and map it to the contract's column names.

    Args:
        source: TableSource | str | Path. The file and, in a TableSource, its `format`,
            `columns` (contract name -> file column) and `encoding`.
        schema: TableSchema. The contract table (e.g. `tfrec.data.schema.ITEMS`).
        base_dir: Path | None. Relative paths resolve against it. Defaults to the current
            directory.
        policies: ValidationPolicies | None. Only `bad_encoding` is used here: ``drop`` removes
            lines whose bytes do not decode (counted in `report`), ``error`` raises listing them
            all. Defaults to all ``error``.
        report: DataReport | None. When given, receives rows read, encoding violations and
            dropped-line counts for this table.
        extra_columns: Sequence[str] | None. Non-contract columns to keep (each must exist);
            None keeps every column of the file.

    Returns:
        The table with contract column names, values as read (CSV: strings), indexed by the row
        number a user sees in the file (index name ``row``).

    Raises:
        FileNotFoundError: the file does not exist.
        DataValidationError: undecodable bytes (policy error), malformed lines, or columns that
            are missing or mapped to columns the file does not have.
    """
    src = source if isinstance(source, TableSource) else TableSource(path=str(source))
    path = _resolve(src.path, base_dir)
    file = str(path)
    if not path.exists():
        raise FileNotFoundError(f"{file}: no such file (the {schema.name} table)")
    policies = policies or ValidationPolicies()
    fmt = detect_format(path, src.format)
    n_dropped = 0
    if fmt == "parquet":
        df = pd.read_parquet(path)
        if df.index.name is not None or not isinstance(df.index, pd.RangeIndex):
            df = df.reset_index()
        else:
            df = df.reset_index(drop=True)
        df.index = pd.RangeIndex(1, len(df) + 1, name="row")
    else:
        raw = _read_bytes(path)
        text, line_map, bad = _decode(raw, src.encoding, file, header=fmt == "csv")
        if bad:
            if report is not None:
                report.violations.extend(bad)
            if policies.bad_encoding == "error" or (fmt == "csv" and bad[0].row == 1):
                raise DataValidationError(
                    bad,
                    header=f"{file}: {len(bad)} line(s) do not decode as {src.encoding} "
                    f"(set the table's `encoding`, or `policies.bad_encoding: drop`)",
                )
            n_dropped = len(bad)
        df = (
            _parse_csv(text, line_map, file) if fmt == "csv" else _parse_jsonl(text, line_map, file)
        )
    df = _map_columns(df, src.columns, schema, file, extra_columns)
    if report is not None:
        report.rows_read[schema.name] = len(df) + n_dropped
        report.count_dropped(schema.name, "bad_encoding", n_dropped)
    return df


def _resolve(path: str | Path, base_dir: Path | None) -> Path:
    p = Path(path).expanduser()
    if p.is_absolute() or base_dir is None:
        return p
    return Path(base_dir) / p


def _read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    decompress = _COMPRESSIONS.get(path.suffix.lower())
    if decompress is not None:
        try:
            data = decompress(data)
        except (OSError, EOFError, lzma.LZMAError) as e:
            raise DataValidationError(
                [Violation(str(path), None, None, "bad_file", None, f"cannot decompress: {e}")]
            ) from e
    return data


def _decode(
    raw: bytes, encoding: str, file: str, header: bool
) -> tuple[str, np.ndarray | None, list[Violation]]:
    """Decode the file. On failure, find every line that does not decode.

    Returns (text of the decodable lines, original 1-based line number of each physical line of
    that text or None when no line was removed, violations of undecodable lines).
    """
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        pass
    except LookupError as e:
        raise ValueError(f"{file}: unknown encoding {encoding!r} in the config") from e
    else:
        return _strip_bom(text, encoding), None, []
    lines = raw.split(b"\n")
    good: list[str] = []
    kept: list[int] = []
    bad: list[Violation] = []
    for i, line in enumerate(lines, start=1):
        try:
            good.append(line.decode(encoding))
            kept.append(i)
        except UnicodeDecodeError as e:
            snippet = line[max(0, e.start - 10) : e.end + 10]
            bad.append(
                Violation(
                    file,
                    i,
                    None,
                    "bad_encoding",
                    line[e.start : e.end],
                    f"bytes {line[e.start : e.end]!r} at byte {e.start + 1} of the line do not "
                    f"decode as {encoding} (near {snippet!r})",
                )
            )
    text = _strip_bom("\n".join(good), encoding)
    return text, np.asarray(kept, dtype=np.int64), bad


def _strip_bom(text: str, encoding: str) -> str:
    if text.startswith("\ufeff") and encoding.lower().replace("-", "").replace("_", "") in (
        "utf8",
        "utf8sig",
    ):
        return text[1:]
    return text


def _physical_lines(text: str) -> int:
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


def _parse_csv(text: str, line_map: np.ndarray | None, file: str) -> pd.DataFrame:
    """Parse CSV text to strings; index = file line number of the row's first line."""
    if not text.strip():
        raise DataValidationError(
            [Violation(file, None, None, "empty_file", None, "the file has no header line")]
        )
    df = None
    try:
        df = pd.read_csv(
            io.StringIO(text),
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            skip_blank_lines=True,
        )
    except pd.errors.ParserError:
        df = None  # the csv module below names every malformed line
    if df is not None and len(df) == _physical_lines(text) - 1:
        lines = np.arange(2, len(df) + 2, dtype=np.int64)
    else:
        # blank lines, quoted line breaks or malformed lines: track each record's first line
        df, lines = _parse_csv_slow(text, file, line_map)
    if line_map is not None:
        lines = line_map[lines - 1]
    df.index = pd.Index(lines, name="row")
    return df


def _parse_csv_slow(
    text: str, file: str, line_map: np.ndarray | None
) -> tuple[pd.DataFrame, np.ndarray]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    records: list[list[str]] = []
    lines: list[int] = []
    bad: list[Violation] = []
    end = reader.line_num
    for rec in reader:
        start, end = end + 1, reader.line_num
        if not rec:
            continue
        if len(rec) > len(header):
            line = int(line_map[start - 1]) if line_map is not None else start
            bad.append(
                Violation(
                    file,
                    line,
                    None,
                    "bad_line",
                    None,
                    f"{len(rec)} fields where the header has {len(header)}",
                )
            )
            continue
        records.append(rec + [""] * (len(header) - len(rec)))
        lines.append(start)
    if bad:
        raise DataValidationError(bad)
    df = pd.DataFrame(records, columns=header, dtype="str")
    return df, np.asarray(lines, dtype=np.int64)


def _parse_jsonl(text: str, line_map: np.ndarray | None, file: str) -> pd.DataFrame:
    """Parse JSON Lines (one object per line, blank lines skipped); index = file line number."""
    raw_lines = text.split("\n")
    numbers = [i for i, line in enumerate(raw_lines, start=1) if line.strip()]
    body = "\n".join(raw_lines[i - 1] for i in numbers)
    orig = np.asarray(numbers, dtype=np.int64)
    if line_map is not None:
        orig = line_map[orig - 1] if len(orig) else orig
    if not numbers:
        return pd.DataFrame(index=pd.Index([], name="row", dtype=np.int64))
    try:
        df = pd.read_json(
            io.StringIO(body),
            lines=True,
            dtype=False,
            convert_dates=False,
            keep_default_dates=False,
        )
        ok = len(df) == len(numbers)
    except ValueError:
        ok = False
    if not ok:
        bad = []
        for n, i in zip(orig.tolist(), numbers, strict=True):
            try:
                obj = json.loads(raw_lines[i - 1])
                err = None if isinstance(obj, dict) else f"a JSON {type(obj).__name__}"
            except json.JSONDecodeError as e:
                err = str(e)
            if err is not None:
                bad.append(
                    Violation(
                        file,
                        n,
                        None,
                        "bad_json",
                        raw_lines[i - 1][:80],
                        f"each line must be one JSON object; this is {err}",
                    )
                )
        if not bad:
            raise ValueError(f"{file}: pandas could not read these JSON Lines")
        raise DataValidationError(bad)
    df.index = pd.Index(orig, name="row")
    return df


def _map_columns(
    df: pd.DataFrame,
    mapping: dict[str, str],
    table_schema: TableSchema,
    file: str,
    extra_columns: Sequence[str] | None,
) -> pd.DataFrame:
    """Rename file columns to contract names; check required and declared columns exist."""
    there = [str(c) for c in df.columns]
    listing = ", ".join(there) if there else "none"
    problems: list[Violation] = []
    for contract, src in mapping.items():
        if src not in df.columns:
            problems.append(
                Violation(
                    file,
                    None,
                    contract,
                    "missing_column",
                    src,
                    f"the config maps {contract} to column {src!r}, which the file does not have "
                    f"(columns there: {listing})",
                )
            )
    renamed_from = {src: contract for contract, src in mapping.items() if src in df.columns}
    for contract, src in mapping.items():
        if contract in df.columns and contract != src and contract not in renamed_from:
            problems.append(
                Violation(
                    file,
                    None,
                    contract,
                    "duplicate_column",
                    src,
                    f"the file has a column {contract!r} and the config also maps {contract} to "
                    f"{src!r}; rename one of them",
                )
            )
    if problems:
        raise DataValidationError(
            problems, header=f"{file}: columns do not fit the {table_schema.name} table"
        )
    df = df.rename(columns=renamed_from)

    def require(columns, what: str, hint) -> None:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise DataValidationError(
                [
                    Violation(
                        file,
                        None,
                        c,
                        "missing_column",
                        None,
                        f"{what} column {c!r} is not in the file (columns there: {listing}{hint(c)})",
                    )
                    for c in missing
                ],
                header=f"{file}: {what} columns missing",
            )

    require(
        table_schema.required,
        f"required {table_schema.name}",
        lambda c: f"; map a file column to it with `columns: {{{c}: ...}}`",
    )
    if extra_columns is not None:
        require(extra_columns, "declared feature", lambda c: "")
        keep = [c for c in df.columns if c in table_schema.names or c in extra_columns]
        df = df[keep]
    return df


# --------------------------------------------------------------------------------------------
# A whole shop
# --------------------------------------------------------------------------------------------


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
    """
    if data_cfg.source == "transactions":
        if data_cfg.transactions is None:
            raise ValueError("data.source is transactions but data.transactions is not set")
        return _load_transactions(data_cfg.transactions, data_cfg, base_dir)
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
        files[name] = str(_resolve(src.path, base_dir))
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


# --------------------------------------------------------------------------------------------
# A raw transaction log (Online Retail)
# --------------------------------------------------------------------------------------------


def _load_transactions(
    tx: TransactionsSource, data_cfg: DataConfig, base_dir: Path | None
) -> ShopData:
    """Map a transaction log to items and one event per cleaned line."""
    report = DataReport()
    src = TableSource(
        path=tx.path, format=tx.format, columns=dict(tx.columns), encoding=tx.encoding
    )
    file = str(_resolve(tx.path, base_dir))
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
    return ShopData(clean["items"], clean["events"], None, None, report)


def clean_transactions(
    lines: pd.DataFrame, tx: TransactionsSource, report: DataReport
) -> pd.DataFrame:
    """Apply the declared cleaning steps in order, counting the rows each removes.

    Steps (each when enabled in `tx.cleaning`), with their `report.cleaning` keys:
    ``cancellations`` (session id starts with `cancellation_prefix`), ``non_positive_quantity``
    (returns), ``missing_title``, ``non_positive_price``, ``non_product`` (ids in
    `non_product_item_ids` or fully matching `non_product_item_pattern`), ``missing_user``
    (guest checkouts). User ids written as floats (``17850.0``) become ``17850``.
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
