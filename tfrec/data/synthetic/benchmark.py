"""How fast the synthetic shop generates, and with how much memory."""

from __future__ import annotations

import resource
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from tfrec.config import SyntheticConfig
from tfrec.data.synthetic.writer import write_shop


class _PeakRss:
    """Samples this process's resident memory in a thread; the peak while it ran."""

    def __init__(self, interval: float = 0.05) -> None:
        self._proc = psutil.Process()
        self._interval = interval
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> _PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def generation_benchmark(
    num_items: int, num_users: int, out_dir: str | Path, **overrides: Any
) -> dict:
    """Generate a shop of the given size and measure it.

    Args:
        num_items: int. Catalog size.
        num_users: int. Number of users (events grow ~linearly with it: ~85 per user by default).
        out_dir: str | Path. Where the files go (the caller deletes them).
        **overrides: further SyntheticConfig fields (seed, format, chunk_rows ...).

    Returns:
        {"seconds": wall time, "peak_rss_mb": peak resident memory of the process during the
        run, "rows": {"items": n, "events": n, "judgments": n, "users": n}}.

    Example:
        >>> generation_benchmark(2000, 500, "/tmp/bench_shop")["seconds"]
    """
    cfg = SyntheticConfig(num_items=num_items, num_users=num_users, **overrides)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with _PeakRss() as mem:
        _, rows = write_shop(cfg, out_dir, progress=False)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss (KiB on Linux) is exact when the run raised the process peak
    peak = after * 1024 if after > before else mem.peak
    return {"seconds": round(seconds, 2), "peak_rss_mb": round(peak / 2**20, 1), "rows": rows}
