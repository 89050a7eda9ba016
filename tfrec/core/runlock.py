"""One writer per run directory: an OS lock (`fcntl.flock`) on a lock file of the run.

The kernel releases a `flock` when its holder exits, however it exits (`kill -9` included),
so a crashed holder never leaves the run locked. The holder writes its pid, command and start
time into the lock file, and whoever finds the lock taken says who holds it:

    with RunLock(RunDir(cfg.run_path).writer_lock, "tfrec run configs/quickstart.yaml"):
        ...   # a second `tfrec run` on the same run directory raises RunLockedError meanwhile

Writers (`tfrec run`, `train`, `export`, `index build|add`, `tune`, `evaluate`) take
`RunDir.writer_lock`; the `tfrec serve` that appends to the live-item journal takes
`RunDir.item_journal_lock` (a second server writing the same journal is refused, while an
export, which the server swaps in, may run next to it). Readers take no lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from pathlib import Path


class RunLockedError(RuntimeError):
    """The lock is held by another process; the message names its pid and command."""


def default_command() -> str:
    """The command line of this process, as a user would type it (`tfrec run CONFIG`)."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if name in ("__main__.py", "-c", "-m"):
        name = "tfrec"
    return " ".join([name, *sys.argv[1:]])


class RunLock:
    """An exclusive, non-blocking lock on `path` for the life of a `with` block.

    Args:
        path: the lock file (created with its folder when missing; never deleted, so two
            processes always lock the same file).
        command: what the holder does, shown to whoever finds the lock taken. Defaults to this
            process's command line.

    Raises:
        RunLockedError: from `acquire` (and `with`) when another process holds the lock.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "run.lock"
        >>> with RunLock(path, "tfrec run demo.yaml"):
        ...     RunLock(path).acquire()
        Traceback (most recent call last):
        ...
        tfrec.core.runlock.RunLockedError: ... is in use by pid ... (tfrec run demo.yaml) ...
    """

    def __init__(self, path: Path, command: str | None = None):
        self.path = Path(path)
        self.command = command or default_command()
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> dict:
        """What the lock file says about its holder: `{"pid", "command", "since"}` (empty when
        the holder has not written it yet)."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}

    def acquire(self) -> RunLock:
        """Take the lock or raise `RunLockedError` at once (never waits)."""
        if self._fd is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLockedError(self._busy_message()) from None
        except BaseException:
            os.close(fd)
            raise
        info = {
            "pid": os.getpid(),
            "command": self.command,
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Give the lock back (the lock file stays, emptied)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _busy_message(self) -> str:
        info = self.holder()
        who = (
            f"pid {info.get('pid')} ({info.get('command')}) since {info.get('since')}"
            if info.get("pid")
            else "another process (it has not written its pid yet)"
        )
        return (
            f"{self.path.parent} is in use by {who}; one process writes a run directory at a "
            f"time: wait for it to finish or stop it (lock file {self.path})"
        )

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
