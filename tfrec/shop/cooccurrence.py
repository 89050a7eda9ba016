"""Item co-occurrence within sessions (co-view) and baskets (co-purchase), as sparse rows.

`CoCounts.from_sessions(session_keys, item_idx, num_items)` counts, for every ordered pair of
distinct items, the number of sessions that contain both. Rows are stored like a CSR matrix
(`indptr`, `indices`, `counts`) so a catalog of tens of thousands of items and invoices with
hundreds of lines fit in memory without SciPy. `cosine(a)` normalises a row by the number of
sessions each item appears in: c(a, b) / sqrt(n_a * n_b).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

_CHUNK_PAIRS = 4_000_000


@dataclass
class CoCounts:
    """Symmetric session co-occurrence counts.

    Args:
        indptr: np.ndarray [N + 1] int64. Row `a` is `indices[indptr[a]:indptr[a + 1]]`.
        indices: np.ndarray [nnz] int64. The co-occurring items of each row, ascending.
        counts: np.ndarray [nnz] float32. Sessions holding both items.
        item_sessions: np.ndarray [N] float32. Sessions holding each item.
        num_sessions: int. Sessions with at least one item.
    """

    indptr: np.ndarray
    indices: np.ndarray
    counts: np.ndarray
    item_sessions: np.ndarray
    num_sessions: int

    @property
    def num_items(self) -> int:
        return len(self.indptr) - 1

    @classmethod
    def empty(cls, num_items: int) -> CoCounts:
        return cls(
            np.zeros(num_items + 1, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.float32),
            np.zeros(num_items, np.float32),
            0,
        )

    @classmethod
    def from_sessions(
        cls, session_keys: np.ndarray | pd.Series, item_idx: np.ndarray, num_items: int
    ) -> CoCounts:
        """Counts from parallel arrays (one entry per event): the session of each event and
        its item index. Repeated items within a session count once."""
        frame = pd.DataFrame({"s": np.asarray(session_keys), "i": np.asarray(item_idx, np.int64)})
        frame = frame[frame.i > 0].drop_duplicates()
        if frame.empty:
            return cls.empty(num_items)
        codes, _ = pd.factorize(frame["s"])
        order = np.argsort(codes, kind="stable")
        items = frame["i"].to_numpy()[order]
        codes = codes[order]
        item_sessions = np.bincount(items, minlength=num_items).astype(np.float32)
        bounds = np.flatnonzero(np.diff(codes)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(items)]])
        keys_parts, counts_parts, pending, pending_size = [], [], [], 0

        def flush():
            nonlocal pending, pending_size
            if pending:
                keys, counts = np.unique(np.concatenate(pending), return_counts=True)
                keys_parts.append(keys)
                counts_parts.append(counts)
            pending, pending_size = [], 0

        for start, end in zip(starts, ends):
            if end - start < 2:
                continue
            group = items[start:end]
            a, b = np.meshgrid(group, group, indexing="ij")
            keep = a != b
            pending.append(a[keep] * num_items + b[keep])
            pending_size += int(keep.sum())
            if pending_size >= _CHUNK_PAIRS:
                flush()
        flush()
        if not keys_parts:
            out = cls.empty(num_items)
            out.item_sessions = item_sessions
            out.num_sessions = len(starts)
            return out
        keys = np.concatenate(keys_parts)
        counts = np.concatenate(counts_parts)
        order = np.argsort(keys, kind="stable")
        keys, counts = keys[order], counts[order]
        unique, first = np.unique(keys, return_index=True)
        counts = np.add.reduceat(counts, first).astype(np.float32)
        rows = unique // num_items
        indptr = np.zeros(num_items + 1, np.int64)
        np.add.at(indptr, rows + 1, 1)
        return cls(
            np.cumsum(indptr),
            (unique % num_items).astype(np.int64),
            counts,
            item_sessions,
            len(starts),
        )

    def row(self, item: int) -> tuple[np.ndarray, np.ndarray]:
        """(co-occurring items, counts) of one item."""
        lo, hi = self.indptr[item], self.indptr[item + 1]
        return self.indices[lo:hi], self.counts[lo:hi]

    def count(self, a: int, b: int) -> float:
        """Sessions holding both `a` and `b`."""
        items, counts = self.row(a)
        pos = np.searchsorted(items, b)
        return float(counts[pos]) if pos < len(items) and items[pos] == b else 0.0

    def dense_row(self, item: int, normalise: bool = False) -> np.ndarray:
        """Row `item` as a dense [N] vector: raw counts, or the cosine c / sqrt(n_a * n_b)."""
        out = np.zeros(self.num_items, np.float32)
        items, counts = self.row(item)
        if normalise and len(items):
            denom = np.sqrt(self.item_sessions[item] * self.item_sessions[items])
            counts = counts / np.maximum(denom, 1.0)
        out[items] = counts
        return out
