"""`tfrec bench` / `make bench`: benchmarks that print ratios against a baseline measured in the
same run (the machines are shared and noisy, so absolute numbers alone mean little).

Sections (each a function `bench_<name>(cfg) -> dict`, registered in `SECTIONS`):
- `training`: retrieval training examples/s for text modes frozen, top_k_layers (2) and full on
  the same data and batch, as ratios to frozen; peak memory.
- `encoding`: text-tower encoding throughput (texts/s) of the configured checkpoint, with
  per-batch padding trimmed versus padded to max_length (the baseline).
- `synthetic`: time and peak memory to generate a large synthetic shop (set
  TFREC_BENCH_SYNTHETIC_ITEMS, default 100,000 items; 1,000,000 for the scale figure).
- `serving`: `/search` latency percentiles and QPS at 1, 8, 32 clients next to the in-process
  lower bound (needs the run's export and index).
- `index`: ScaNN vs brute-force queries/s at equal recall@10 on 100k and 1M random embeddings
  (TFREC_BENCH_INDEX_SIZES=100000 to shrink).
Other stages add their sections here.
"""

from __future__ import annotations

import copy
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tfrec.config import Config
from tfrec.core.rundir import RunDir
from tfrec.core.log import echo


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _bench_data(cfg: Config):
    """The prepared data of the config's run, or of a small synthetic shop made for the bench."""
    from tfrec.data.prepared import load_prepared
    from tfrec.stages.data import stage_data

    run = RunDir(cfg.run_path)
    if (run.clean / "items.parquet").exists():
        return load_prepared(cfg, run)
    tmp = Path(tempfile.mkdtemp(prefix="tfrec-bench-"))
    small = copy.deepcopy(cfg)
    small.data.source = "synthetic"
    small.data.synthetic.num_items = 1000
    small.data.synthetic.num_users = 800
    small.run_dir = str(tmp / "run")
    stage_data(small, RunDir(small.run_path))
    return load_prepared(small, RunDir(small.run_path))


def bench_training(cfg: Config, steps: int = 8, warmup: int = 2, batch_size: int = 32) -> dict:
    """Training examples/s of the retrieval model per text mode, on the same batches."""
    import tensorflow as tf

    from tfrec.data.datasets import retrieval_dataset
    from tfrec.training.retrieval import _build_variables, build_model_for_run

    data = _bench_data(cfg)
    results = {}
    for mode in ("frozen", "top_k_layers", "full"):
        c = copy.deepcopy(cfg)
        c.text.mode = mode
        c.text.trainable_layers = 2
        c.retrieval.batch_size = batch_size
        tf.keras.utils.set_random_seed(0)
        model = build_model_for_run(c, data)
        ds = retrieval_dataset(data, "train", batch_size, seed=0).repeat()
        _build_variables(model, ds)
        it = iter(ds)
        for _ in range(warmup):
            model.train_step(next(it))
        t0 = time.perf_counter()
        for _ in range(steps):
            model.train_step(next(it))
        seconds = time.perf_counter() - t0
        results[mode] = {
            "examples_per_s": steps * batch_size / seconds,
            "trainable_weights": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
            "peak_rss_mb": peak_rss_mb(),
        }
        del model
    base = results["frozen"]["examples_per_s"]
    echo(
        f"[bench] retrieval training, batch {batch_size}, {steps} timed steps, checkpoint {cfg.text.checkpoint}"
    )
    echo(
        f"[bench] {'mode':14s} {'examples/s':>11s} {'ratio':>7s} {'trainable':>11s} {'peak RSS MiB':>13s}"
    )
    for mode, r in results.items():
        r["ratio_to_frozen"] = r["examples_per_s"] / base
        echo(
            f"[bench] {mode:14s} {r['examples_per_s']:11.1f} {r['ratio_to_frozen']:7.3f} "
            f"{r['trainable_weights']:11,d} {r['peak_rss_mb']:13.0f}"
        )
    return results


def bench_encoding(cfg: Config, n: int = 512) -> dict:
    """Texts/s of the text tower on catalog texts, trimmed padding vs padded to max_length."""
    from tfrec.text.encoder import TextEncoder

    data = _bench_data(cfg)
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


def bench_synthetic(cfg: Config) -> dict:
    """Time and peak memory of generating a large synthetic shop, streamed to disk."""
    from tfrec.data.synthetic import generation_benchmark

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


def bench_ranking(cfg: Config) -> dict:
    """Ranker throughput (candidates/s) for 100, 500, 1000 candidates per request, as ratios to
    the logistic-regression baseline (tfrec/ranking_training.py)."""
    from tfrec.training.ranking import ranking_benchmark

    return ranking_benchmark(cfg)


def bench_serving(cfg: Config) -> dict:
    """/search p50/p95/p99 and QPS at 1, 8 and 32 concurrent clients against the in-process
    lower bound (query encoder + index search), on the run's exports (serving/benchmark.py).
    TFREC_BENCH_SERVING_REQUESTS sets the requests per level (default 200)."""
    from tfrec.bench.serving import serving_benchmark

    run = RunDir(cfg.run_path)
    return serving_benchmark(
        run.root,
        requests=int(os.environ.get("TFREC_BENCH_SERVING_REQUESTS", "200")),
        candidates=cfg.serving.candidates,
        api_key=cfg.serving.api_key or os.environ.get("TFREC_API_KEY"),
        echo=echo,
    )


def bench_index(cfg: Config) -> dict:
    """ScaNN against exact brute force queries/s at equal recall@10 on random unit embeddings
    (dim 64) of TFREC_BENCH_INDEX_SIZES items (default 100000,1000000), as ratios."""
    from tfrec.index.scann_index import index_benchmark

    sizes = [int(n) for n in os.environ.get("TFREC_BENCH_INDEX_SIZES", "100000,1000000").split(",")]
    return index_benchmark(sizes, dim=64, echo=echo)


SECTIONS: dict[str, Callable[[Config], dict]] = {
    "training": bench_training,
    "encoding": bench_encoding,
    "synthetic": bench_synthetic,
    "serving": bench_serving,
    "index": bench_index,
    "ranking": bench_ranking,
}


def run_benchmarks(cfg: Config, only: list[str] | None = None) -> dict:
    """Run the chosen sections (all by default); results also go to <run>/bench.json."""
    names = only or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown bench section(s) {unknown}; known: {', '.join(SECTIONS)}")
    results = {}
    for name in names:
        echo(f"[bench] --- {name} ---")
        results[name] = SECTIONS[name](cfg)
    out = RunDir(cfg.run_path).root / "bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float))
    echo(f"[bench] results in {out}")
    return results
