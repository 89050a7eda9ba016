"""Time and peak memory of generating a large synthetic shop."""

from __future__ import annotations

import os
import tempfile

from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.data.synthetic.benchmark import generation_benchmark


def bench_synthetic(cfg: Config) -> dict:
    """Time and peak memory of generating a large synthetic shop, streamed to disk."""
    n_items = int(os.environ.get("TFREC_BENCH_SYNTHETIC_ITEMS", "100000"))
    n_users = max(n_items // 8, 100)
    with tempfile.TemporaryDirectory(prefix="tfrec-synth-") as tmp:
        r = generation_benchmark(n_items, n_users, tmp)
    rows = r["rows"]
    echo(
        f"[bench] synthetic shop: {n_items:,} items, {n_users:,} users -> {rows['events']:,} events, "
        f"{rows['judgments']:,} judgments in {r['seconds']:.1f} s "
        f"({rows['events'] / r['seconds']:,.0f} events/s), peak RSS {r['peak_rss_mb']:.0f} MiB"
    )
    return r
