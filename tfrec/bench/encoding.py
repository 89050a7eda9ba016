"""Text-tower encoding throughput with per-batch padding trimmed versus padded to max_length."""

from __future__ import annotations

import time

from tfrec.bench.common import bench_data, peak_rss_mb
from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.text.encoder import TextEncoder


def bench_encoding(cfg: Config, n: int = 512) -> dict:
    """Texts/s of the text tower on catalog texts, trimmed padding vs padded to max_length."""
    data = bench_data(cfg)
    texts = (data.catalog.titles[1:] * (n // max(len(data.catalog) - 1, 1) + 1))[:n]
    results = {}
    for trim in (False, True):
        enc = TextEncoder(
            cfg.text.checkpoint, cfg.text.max_length, cfg.text.pooling, trim_padding=trim
        )
        enc.encode_texts(texts[:64], batch_size=64, progress=False)  # warm-up: trace, build
        t0 = time.perf_counter()
        enc.encode_texts(texts, batch_size=cfg.text.encode_batch_size, progress=False)
        results["trimmed" if trim else "padded"] = {"texts_per_s": n / (time.perf_counter() - t0)}
    ratio = results["trimmed"]["texts_per_s"] / results["padded"]["texts_per_s"]
    results["ratio_trimmed_to_padded"] = ratio
    echo(
        f"[bench] text encoding ({cfg.text.checkpoint}, max_length {cfg.text.max_length}, {n} titles): "
        f"padded {results['padded']['texts_per_s']:.0f} texts/s, trimmed "
        f"{results['trimmed']['texts_per_s']:.0f} texts/s, ratio {ratio:.2f}; peak RSS {peak_rss_mb():.0f} MiB"
    )
    return results
