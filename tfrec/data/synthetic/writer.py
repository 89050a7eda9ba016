"""Writing the synthetic shop: the four tables in parquet, CSV or JSON Lines, in chunks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from tfrec.config import SyntheticConfig
from tfrec.data.schema import EVENTS, ITEMS, JUDGMENTS, USERS
from tfrec.data.synthetic.catalog import ShopCatalog
from tfrec.data.synthetic.judgments import judge_query
from tfrec.data.synthetic.queries import QueryRegistry
from tfrec.data.synthetic.sessions import EVENT_CODES, USERS_PER_BLOCK, simulate_block
from tfrec.data.synthetic.taxonomy import COUNTRIES
from tfrec.data.synthetic.users import ShopUsers

_EXTENSIONS = {"parquet": "parquet", "csv": "csv", "jsonl": "jsonl"}


class _TableWriter:
    """Appends Arrow tables to one parquet, CSV or JSON Lines file."""

    def __init__(self, path: Path, fmt: str, schema: pa.Schema) -> None:
        self.path = path
        self.fmt = fmt
        self.schema = schema
        self.rows = 0
        if fmt == "parquet":
            self._writer: Any = pq.ParquetWriter(path, schema, compression="zstd")
        elif fmt == "csv":
            self._writer = pacsv.CSVWriter(path, self._text_schema())
        elif fmt == "jsonl":
            self._writer = open(path, "w", encoding="utf-8")  # noqa: SIM115
        else:
            raise ValueError(f"unknown format {fmt!r}; expected parquet, csv or jsonl")

    def _text_schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f
                for f in self.schema
            ]
        )

    def _as_text(self, table: pa.Table) -> pa.Table:
        cols = []
        for f, col in zip(self.schema, table.columns, strict=True):
            if pa.types.is_timestamp(f.type):
                col = pc.strftime(col.cast(pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%S")
            cols.append(col)
        return pa.table(cols, schema=self._text_schema())

    def write(self, table: pa.Table) -> None:
        table = table.cast(self.schema)
        self.rows += table.num_rows
        if table.num_rows == 0:
            return
        if self.fmt == "parquet":
            self._writer.write_table(table)
        elif self.fmt == "csv":
            self._writer.write_table(self._as_text(table))
        else:
            text = (
                self._as_text(table)
                .to_pandas()
                .to_json(orient="records", lines=True, force_ascii=False)
            )
            self._writer.write(text if text.endswith("\n") else text + "\n")

    def close(self) -> None:
        self._writer.close()


_ITEMS_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("title", pa.string()),
        ("description", pa.string()),
        ("category", pa.string()),
        ("brand", pa.string()),
        ("price", pa.float64()),
        ("created_at", pa.timestamp("ns")),
    ]
)
_EVENTS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("item_id", pa.string()),
        ("event", pa.string()),
        ("timestamp", pa.timestamp("ns")),
        ("query", pa.string()),
        ("position", pa.int64()),
        ("session_id", pa.string()),
        ("quantity", pa.float64()),
    ]
)
_JUDGMENTS_SCHEMA = pa.schema(
    [("query", pa.string()), ("item_id", pa.string()), ("relevance", pa.float64())]
)
_USERS_SCHEMA = pa.schema(
    [("user_id", pa.string()), ("signup_at", pa.timestamp("ns")), ("country", pa.string())]
)
assert _ITEMS_SCHEMA.names == ITEMS.names
assert _EVENTS_SCHEMA.names == EVENTS.names
assert _JUDGMENTS_SCHEMA.names == JUDGMENTS.names
assert _USERS_SCHEMA.names[: len(USERS.names)] == USERS.names


def _ts(seconds: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(seconds, dtype=np.int64) * 1_000_000_000, type=pa.timestamp("ns"))


def _write_items(cat: ShopCatalog, w: _TableWriter, chunk: int, progress: bool) -> None:
    inv = np.argsort(cat.id_perm)  # output row r holds the item whose id number is r
    categories = [lf.category for lf in cat.leaves]
    bar = tqdm(total=cat.n, desc="items", unit="item", disable=not progress)
    for r0 in range(0, cat.n, chunk):
        idx = inv[r0 : r0 + chunk]
        texts = [cat.item_text(int(i)) for i in idx]
        w.write(
            pa.table(
                {
                    "item_id": pc.take(cat.item_ids, pa.array(idx)),
                    "title": pa.array([t for t, _ in texts], pa.string()),
                    "description": pa.array([d for _, d in texts], pa.string()),
                    "category": pa.array([categories[x] for x in cat.item_leaf[idx]], pa.string()),
                    "brand": pa.array([cat.brands[b] for b in cat.item_brand[idx]], pa.string()),
                    "price": pa.array(cat.item_price[idx]),
                    "created_at": _ts(cat.item_created[idx]),
                }
            )
        )
        bar.update(len(idx))
    bar.close()


def _write_users(users: ShopUsers, w: _TableWriter, chunk: int) -> None:
    countries = pa.array(COUNTRIES, pa.string())
    for r0 in range(0, users.n, chunk):
        idx = np.arange(r0, min(r0 + chunk, users.n))
        w.write(
            pa.table(
                {
                    "user_id": pc.take(users.ids, pa.array(idx)),
                    "signup_at": _ts(users.signup[idx]),
                    "country": pc.take(countries, pa.array(users.country[idx])),
                }
            )
        )


def _events_schema(cfg: SyntheticConfig) -> pa.Schema:
    """The events file's columns: without `session_id` when `cfg.sessions` is off."""
    if cfg.sessions:
        return _EVENTS_SCHEMA
    return _EVENTS_SCHEMA.remove(_EVENTS_SCHEMA.get_field_index("session_id"))


def _events_table(
    cat: ShopCatalog,
    users: ShopUsers,
    rows: dict[str, np.ndarray],
    queries: QueryRegistry,
    cfg: SyntheticConfig,
) -> pa.Table:
    user_ids = pc.take(users.ids, pa.array(rows["user"]))
    q = rows["query"]
    qtexts = pa.array(queries.texts, pa.string())
    q_idx = pa.array(np.maximum(q, 0), mask=q < 0)
    position = rows["position"].astype(np.int64)
    columns = {
        "user_id": user_ids,
        "item_id": pc.take(cat.item_ids, pa.array(rows["item"])),
        "event": pc.take(pa.array(EVENT_CODES), pa.array(rows["event"])),
        "timestamp": _ts(rows["ts"]),
        "query": pc.take(qtexts, q_idx),
        # a log without impressions has no positions either
        "position": pa.array(position) if cfg.impressions else pa.nulls(len(position), pa.int64()),
        "session_id": pc.binary_join_element_wise(
            user_ids, pc.cast(pa.array(rows["session_k"] + 1), pa.string()), "-S"
        ),
        "quantity": pa.array(rows["quantity"], from_pandas=True),
    }
    return pa.table({name: columns[name] for name in _events_schema(cfg).names})


def _interactions_only(rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The rows without impression events (code 0), for `cfg.impressions` off."""
    keep = rows["event"] != 0
    return {key: v[keep] for key, v in rows.items()}


def write_shop(
    cfg: SyntheticConfig, out_dir: str | Path, progress: bool
) -> tuple[dict[str, Path], dict[str, int]]:
    """Generate the shop and write its four tables; `generate_shop` with the row counts.

    Args:
        cfg: SyntheticConfig. Sizes, seed, chunk size, file format, and the real-log options
            (`sessions` off: no `session_id` column; `impressions` off: no impression events
            and empty positions).
        out_dir: str | Path. Folder for the files (created if missing).
        progress: bool. Show tqdm progress bars.

    Returns:
        ({table: path}, {table: rows written}).

    Example:
        >>> paths, rows = write_shop(SyntheticConfig(num_items=500, num_users=50), "/tmp/s", False)
    """
    if cfg.format not in _EXTENSIONS:
        raise ValueError(
            f"SyntheticConfig.format must be parquet, csv or jsonl, got {cfg.format!r}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ext = _EXTENSIONS[cfg.format]
    paths = {name: out / f"{name}.{ext}" for name in ("items", "events", "judgments", "users")}
    chunk = int(cfg.chunk_rows)

    cat = ShopCatalog(cfg)
    users = ShopUsers(cfg, cat)
    writers = {
        "items": _TableWriter(paths["items"], cfg.format, _ITEMS_SCHEMA),
        "events": _TableWriter(paths["events"], cfg.format, _events_schema(cfg)),
        "judgments": _TableWriter(paths["judgments"], cfg.format, _JUDGMENTS_SCHEMA),
        "users": _TableWriter(paths["users"], cfg.format, _USERS_SCHEMA),
    }
    try:
        _write_items(cat, writers["items"], chunk, progress)
        _write_users(users, writers["users"], chunk)

        queries = QueryRegistry()
        n_blocks = -(-users.n // USERS_PER_BLOCK)
        buffer: list[dict[str, np.ndarray]] = []
        buffered = 0

        def flush() -> None:
            nonlocal buffer, buffered
            if buffer:
                rows = {key: np.concatenate([b[key] for b in buffer]) for key in buffer[0]}
                for r0 in range(0, len(rows["ts"]), chunk):
                    part = {key: v[r0 : r0 + chunk] for key, v in rows.items()}
                    writers["events"].write(_events_table(cat, users, part, queries, cfg))
            buffer, buffered = [], 0

        for b in tqdm(range(n_blocks), desc="sessions", unit="block", disable=not progress):
            rows = simulate_block(cfg, cat, users, b, queries)
            if not cfg.impressions:
                rows = _interactions_only(rows)
            buffer.append(rows)
            buffered += len(rows["ts"])
            if buffered >= chunk:
                flush()
        flush()

        j_items: list[np.ndarray] = []
        j_rel: list[np.ndarray] = []
        j_q: list[np.ndarray] = []
        j_n = 0

        query_texts = pa.array(queries.texts, pa.string())  # final: sessions are done

        def flush_judgments() -> None:
            nonlocal j_items, j_rel, j_q, j_n
            if j_items:
                writers["judgments"].write(
                    pa.table(
                        {
                            "query": pc.take(query_texts, pa.array(np.concatenate(j_q))),
                            "item_id": pc.take(cat.item_ids, pa.array(np.concatenate(j_items))),
                            "relevance": pa.array(np.concatenate(j_rel)),
                        }
                    )
                )
            j_items, j_rel, j_q, j_n = [], [], [], 0

        for qid, intent in enumerate(
            tqdm(queries.intents, desc="judgments", unit="query", disable=not progress)
        ):
            items, rel = judge_query(cat, intent)
            j_items.append(items)
            j_rel.append(rel)
            j_q.append(np.full(len(items), qid, dtype=np.int64))
            j_n += len(items)
            if j_n >= chunk:
                flush_judgments()
        flush_judgments()
    finally:
        for w in writers.values():
            w.close()
    return paths, {name: w.rows for name, w in writers.items()}


def generate_shop(
    cfg: SyntheticConfig, out_dir: str | Path, progress: bool = True
) -> dict[str, Path]:
    """Generate the synthetic shop into `out_dir` in `cfg.format`.

    Args:
        cfg: SyntheticConfig. Sizes, seed, chunk size and file format.
        out_dir: str | Path. Folder for `items`, `events`, `judgments` and `users` files
            (created if missing; existing files of the same names are replaced).
        progress: bool. Show tqdm progress bars. Defaults to True.

    Returns:
        {"items": path, "events": path, "judgments": path, "users": path}.

    Example:
        >>> paths = generate_shop(SyntheticConfig(num_items=1000, num_users=300), "/tmp/shop")
        >>> paths["items"].name
        'items.parquet'
    """
    paths, _ = write_shop(cfg, out_dir, progress)
    return paths
