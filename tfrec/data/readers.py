"""Readers: CSV, Parquet and JSON Lines files into the data contract's column names.

`read_table` reads one file through pandas, maps its column names to the contract's and checks
that the required columns are there; the frame it returns is indexed by the row number a user
sees in the file (CSV: the line number, header = line 1; JSON Lines: the line number; Parquet:
the 1-based row). Whole shops are loaded by `tfrec.data.sources.load_shop`.

Example:

```python
from tfrec.data import schema
from tfrec.data.readers import read_table

items = read_table("shop/items.csv.gz", schema.ITEMS)
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
from pathlib import Path

import numpy as np
import pandas as pd

from tfrec.config import TableSource, ValidationPolicies
from tfrec.data.report import DataReport, DataValidationError, Violation
from tfrec.data.schema import TableSchema

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
    path = resolve_path(src.path, base_dir)
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


def resolve_path(path: str | Path, base_dir: Path | None) -> Path:
    """A config path: `~` expanded, a relative one joined to `base_dir` (when given).

    Args:
        path: str | Path. The path as the config writes it.
        base_dir: Path | None. What relative paths are relative to; None leaves them as they are.

    Example:
        >>> resolve_path("data/items.csv", Path("/work"))
        PosixPath('/work/data/items.csv')
    """
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
