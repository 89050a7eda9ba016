"""An append-only JSON Lines journal: one record a line, on disk (fsync) before `append` returns.

A record is durable once `append` returns: the line is written with one `write` and the file
is `fsync`ed (and, when the journal is created, its folder too, so the new name survives a
crash). A crash can leave only the last line incomplete (no newline): `read_journal` leaves
such a tail out and says so, and `JournalWriter` cuts it off before its first append so the
next record starts on a line of its own. A complete line that is not a JSON object is never
skipped silently: reading raises `JournalError` naming the file and the line.

    writer = JournalWriter(path)          # one writer at a time (hold a RunLock)
    writer.append({"items": [...]})       # durable when it returns
    records = read_journal(path).records  # any number of readers, any time
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path


class JournalError(ValueError):
    """A complete journal line that cannot be read (the message names the file and line)."""


@dataclass
class JournalContents:
    """What `read_journal` found: the complete records in order, and the size in bytes of an
    incomplete last line left out (0 when there is none)."""

    records: list = field(default_factory=list)
    torn_bytes: int = 0
    complete_bytes: int = 0


def read_journal(path: Path) -> JournalContents:
    """The complete records of the journal at `path` (none when it does not exist).

    Args:
        path: the journal file.

    Returns:
        `JournalContents`; `torn_bytes` > 0 when the last line has no newline (a crash while it
        was written, or a writer writing it right now): that line is left out.

    Raises:
        JournalError: a complete line is not a JSON object.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "j.jsonl"
        >>> _ = path.write_bytes(b'{"a": 1}\\n{"a": 2')
        >>> read_journal(path)
        JournalContents(records=[{'a': 1}], torn_bytes=7, complete_bytes=9)
    """
    path = Path(path)
    if not path.exists():
        return JournalContents()
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1  # the bytes of complete lines
    records = []
    for number, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            record = None
        if not isinstance(record, dict):
            raise JournalError(
                f"{path} line {number} is not a JSON object record ({line[:80]!r}); the "
                "journal is append-only, so this line was damaged on disk: repair or remove it"
            )
        records.append(record)
    return JournalContents(records, len(data) - end, end)


class JournalWriter:
    """Appends records to the journal at `path`, each durable before `append` returns.

    Args:
        path: the journal file (created on the first append, with its folder).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "j.jsonl"
        >>> writer = JournalWriter(path)
        >>> writer.append({"items": [{"item_id": "n1"}]})
        >>> writer.close()
        >>> read_journal(path).records
        [{'items': [{'item_id': 'n1'}]}]
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def repair(self) -> int:
        """Cut off an incomplete last line (left by a crash: it was never acknowledged);
        returns the bytes cut. Call it only as the journal's one writer."""
        if not self.path.exists():
            return 0
        contents = read_journal(self.path)
        if contents.torn_bytes:
            with open(self.path, "r+b") as f:
                f.truncate(contents.complete_bytes)
                f.flush()
                os.fsync(f.fileno())
        return contents.torn_bytes

    def _open(self) -> int:
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            self.repair()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            if created:  # the new directory entry must survive a crash too
                fsync_dir(self.path.parent)
        return self._fd

    def append(self, record: dict) -> None:
        """Write `record` as one line and fsync; raises OSError when the disk refuses."""
        line = (json.dumps(record, ensure_ascii=True, allow_nan=False) + "\n").encode("ascii")
        fd = self._open()
        start = os.fstat(fd).st_size
        try:
            view = memoryview(line)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except OSError:
            # a part of the line must not stay in front of the next record
            with contextlib.suppress(OSError):  # else repair() cuts it at the next start
                os.ftruncate(fd, start)
            raise

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def latest_entries(records: list[dict], field: str, key: str) -> list[dict]:
    """The entries of the records' `field` lists, the last entry of each `key` winning (a
    later record updates an earlier one), in the order of their last appearance.

    Args:
        records: journal records.
        field: the list each record holds (`items`).
        key: the entries' identity (`item_id`).

    Example:
        >>> latest_entries([{"items": [{"item_id": "a", "title": "x"}]},
        ...                 {"items": [{"item_id": "a", "title": "y"}]}], "items", "item_id")
        [{'item_id': 'a', 'title': 'y'}]
    """
    latest = {}
    for record in records:
        for entry in record.get(field) or []:
            if isinstance(entry, dict) and isinstance(entry.get(key), str):
                latest.pop(entry[key], None)
                latest[entry[key]] = entry
    return list(latest.values())


def fsync_dir(path: Path) -> None:
    """fsync a directory, so the names created in it are on disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
