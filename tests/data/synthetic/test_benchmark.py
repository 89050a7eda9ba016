"""Tests for tfrec/data/synthetic/benchmark.py and summary.py: timing, memory, headline figures."""

from __future__ import annotations

from pathlib import Path

from tfrec.data.synthetic.benchmark import generation_benchmark
from tfrec.data.synthetic.summary import summarize_shop


def test_benchmark_and_summary(tmp_path: Path) -> None:
    r = generation_benchmark(200, 30, tmp_path / "b")
    assert r["seconds"] > 0 and r["peak_rss_mb"] > 0
    assert r["rows"]["items"] == 200 and r["rows"]["users"] == 30
    assert r["rows"]["events"] > 30 * 10
    paths = {n: tmp_path / "b" / f"{n}.parquet" for n in ("items", "events", "judgments", "users")}
    s = summarize_shop(paths)
    assert s["rows"] == r["rows"]
    assert s["ctr_by_position"][1] > 0
