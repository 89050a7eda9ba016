"""Items added while serving (`POST /v1/items`): their checks, and their durable journal.

An acknowledged add survives any crash: the server appends the request's items to the run's
journal (`RunDir.item_journal`, JSON Lines, one record per request) and fsyncs it before the
200 goes out (`tfrec.core.journal`). At start-up the server replays the journal, so the items
are served again (embedded by the served version's `item_encoder`, as when they were added);
an incomplete last record (a crash while it was written, never acknowledged) is left out and
logged, and a complete record is never dropped. `tfrec export` folds the journal into the
run's index (`tfrec.stages.export`), so the next version's ScaNN index holds the items too.

Only one server appends to a journal: the one started with an API key (adds need one) holds
`RunDir.item_journal_lock` (`tfrec.core.runlock`); a second one is refused and names the first.
"""

from __future__ import annotations

import math
import time

import pandas as pd

from tfrec.core.journal import JournalWriter, latest_entries, read_journal
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.core.runlock import RunLock
from tfrec.serving.models import ServingError

ITEM_FIELDS = {"item_id", "title", "description", "category", "brand", "price", "created_at"}
RECORD_VERSION = 1  # the journal record format: {"v", "time", "model", "items"}


def parse_item_rows(body, max_items: int, item_features: dict | None = None) -> pd.DataFrame:
    """Item rows of a `POST /v1/items` body (`{"items": [...]}`), checked against the data
    contract; the first problem is named with its row and field.

    Args:
        body: the parsed JSON body.
        max_items: the most items one request may add.
        item_features: the config's extra item features (`data.item_features`).

    Returns:
        a DataFrame of the rows, `item_id` and `title` stripped.

    Example:
        >>> parse_item_rows({"items": [{"item_id": "n1", "title": "Mug"}]}, 10).item_id.tolist()
        ['n1']
    """
    if not isinstance(body, dict) or set(body) != {"items"}:
        raise ServingError('the body must be {"items": [{"item_id": ..., "title": ...}, ...]}')
    items = body["items"]
    if not isinstance(items, list) or not items:
        raise ServingError("'items' must be a non-empty list of item objects")
    if len(items) > max_items:
        raise ServingError(f"'items' holds {len(items)} items; the limit is {max_items}")
    allowed = ITEM_FIELDS | set(item_features or {})
    numeric = {"price"} | {k for k, v in (item_features or {}).items() if v == "numeric"}
    seen = set()
    for i, row in enumerate(items):
        where = f"items[{i}]"
        if not isinstance(row, dict):
            raise ServingError(f"{where} must be an object; got {json_type(row)}")
        extra = sorted(set(row) - allowed)
        if extra:
            raise ServingError(
                f"{where} has unknown field {extra[0]!r}; accepted: {', '.join(sorted(allowed))}"
            )
        for name in ("item_id", "title"):
            value = row.get(name)
            if not isinstance(value, str) or not value.strip():
                raise ServingError(f"{where}.{name} must be a non-empty string; got {value!r}")
        if row["item_id"].strip() in seen:
            raise ServingError(f"{where}.item_id {row['item_id']!r} appears twice")
        seen.add(row["item_id"].strip())
        for name, value in row.items():
            if value is None or name in ("item_id", "title"):
                continue
            if name in numeric:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
                if not ok or not math.isfinite(value) or (name == "price" and value < 0):
                    raise ServingError(
                        f"{where}.{name} must be a number"
                        + (" >= 0" if name == "price" else "")
                        + f"; got {value!r}"
                    )
            elif not isinstance(value, str):
                raise ServingError(f"{where}.{name} must be a string; got {value!r}")
    frame = pd.DataFrame(items)
    frame["item_id"] = frame["item_id"].str.strip()
    frame["title"] = frame["title"].str.strip()
    return frame


def json_type(value) -> str:
    return {list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else "null"
    )


def item_records(rows: pd.DataFrame) -> list[dict]:
    """The rows as JSON objects, without the fields a row leaves out (NaN / None)."""
    out = []
    for row in rows.to_dict("records"):
        out.append(
            {
                k: (v.item() if hasattr(v, "item") else v)
                for k, v in row.items()
                if v is not None and not (isinstance(v, float) and math.isnan(v))
            }
        )
    return out


class LiveItemJournal:
    """The run's journal of items added while serving, as one server uses it.

    Args:
        run: the run directory.
        item_features: the config's extra item features (checked again on replay).
        writable: take the journal's lock and append to it (a server with an API key); a
            read-only journal only replays.
        command: the server's command line, shown to a second server refused the lock.

    Example:
        >>> journal = LiveItemJournal(RunDir("runs/quickstart"), {}, writable=True).open()
        >>> rows = journal.replay()  # None when nothing was added live  # doctest: +SKIP
        >>> journal.append(item_records(rows), {"name": "tfrec_scann", "version": 3})
        >>> journal.close()
    """

    def __init__(self, run: RunDir, item_features: dict, writable: bool, command=None):
        self.path = run.item_journal
        self.item_features = item_features
        self.writable = writable
        self._lock = RunLock(run.item_journal_lock, command) if writable else None
        self._writer = JournalWriter(self.path) if writable else None

    def open(self) -> LiveItemJournal:
        """Take the lock (writable: raises `RunLockedError` when another server holds it) and
        cut off an incomplete last record left by a crash."""
        if self._lock is not None:
            self._lock.acquire()
            try:
                torn = self._writer.repair()
            except BaseException:
                self._lock.release()
                raise
            if torn:
                echo(
                    f"[serve] live-item journal {self.path.name}: removed an incomplete last "
                    f"record ({torn} bytes, a crash while it was written; it was never "
                    "acknowledged); every complete record is kept"
                )
        return self

    def replay(self) -> pd.DataFrame | None:
        """The journaled items as one batch of rows (None when there are none)."""
        contents = read_journal(self.path)
        if contents.torn_bytes:
            echo(
                f"[serve] live-item journal {self.path.name}: left out an incomplete last "
                f"record ({contents.torn_bytes} bytes, never acknowledged)"
            )
        items = latest_entries(contents.records, "items", "item_id")
        if not items:
            return None
        rows = parse_item_rows({"items": items}, len(items), self.item_features)
        echo(
            f"[serve] live-item journal {self.path.name}: replaying {len(items)} items from "
            f"{len(contents.records)} records"
        )
        return rows

    def append(self, items: list[dict], model: dict) -> None:
        """Make an add durable (fsync) before it is acknowledged; a failure is a 503."""
        if self._writer is None:
            raise ServingError("this server does not write the live-item journal", 403)
        record = {
            "v": RECORD_VERSION,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": model,
            "items": items,
        }
        try:
            self._writer.append(record)
        except (OSError, ValueError) as e:
            echo(f"[serve] could not write the live-item journal {self.path}: {e}")
            raise ServingError(
                "the items could not be stored durably (the server's journal write failed); "
                "nothing was added",
                503,
                "UNAVAILABLE",
            ) from None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._lock is not None:
            self._lock.release()
