"""`tfrec bench` / `make bench`: benchmarks that print ratios against a baseline measured in the
same run (the machines are shared and noisy, so absolute numbers alone mean little).

Sections (each a function `bench_<name>(cfg) -> dict`, registered in `SECTIONS`):
- `training`: retrieval training examples/s for text modes frozen, top_k_layers (2) with the
  frozen-layer cache and without it (the baseline the cache replaces) and full on the same data
  and batch, as ratios to frozen; the cache's one-off time and memory; peak memory.
- `encoding`: text-tower encoding throughput (texts/s) of the configured checkpoint, with
  per-batch padding trimmed versus padded to max_length (the baseline).
- `synthetic`: time and peak memory to generate a large synthetic shop (set
  TFREC_BENCH_SYNTHETIC_ITEMS, default 100,000 items; 1,000,000 for the scale figure).
- `serving`: `/search` latency percentiles and QPS at 1, 8, 32 clients, unbatched and batched,
  next to the in-process lower bound (needs the run's export and index);
  TFREC_BENCH_SERVING_ITEMS=1000000 adds the run grown to a 1M-item synthetic catalog.
- `index`: ScaNN, approx_max_k (float32, bfloat16) and exact TensorFlow vs brute-force
  queries/s at equal recall@10 on 100k and 1M random embeddings (TFREC_BENCH_INDEX_SIZES=100000
  to shrink).
- `relevance` (runs only when named: it trains one model per dataset): Recall@100 and NDCG@10 of
  every model and baseline on the demo shop, configs/hard_search.yaml,
  configs/ratings_nosession.yaml and Online Retail side by side, per task and slice, with
  trained - zero_shot (tfrec/bench/relevance.py; TFREC_BENCH_RELEVANCE=demo,hard_search picks
  datasets, TFREC_BENCH_RELEVANCE_RETRAIN=1 reruns runs kept from the same config).
- `finetune` (runs only when named: it trains two models): search Recall@100 and NDCG@10 of the
  config's data with the text tower frozen and fine-tuned (`top_k_layers` through the
  frozen-layer cache), paired on the same test searches with bootstrap intervals
  (tfrec/bench/finetune.py; e.g. configs/hard_search.yaml reduced to 4,000 items).
Other stages add their sections here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from tfrec.bench.encoding import bench_encoding
from tfrec.bench.index import index_benchmark
from tfrec.bench.synthetic import bench_synthetic
from tfrec.bench.training import bench_training
from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir


def bench_ranking(cfg: Config) -> dict:
    """Ranker throughput (candidates/s) for 100, 500, 1000 candidates per request, as ratios to
    the logistic-regression baseline (tfrec/bench/ranking.py)."""
    from tfrec.bench.ranking import ranking_benchmark  # deferred: loads TensorFlow

    return ranking_benchmark(cfg, RunDir(cfg.run_path))


def bench_serving(cfg: Config) -> dict:
    """/search p50/p95/p99 and QPS at 1, 8 and 32 concurrent clients, unbatched and batched,
    against the in-process lower bound (query encoder + index search + ranker), on the run's
    exports (tfrec/bench/serving.py). TFREC_BENCH_SERVING_REQUESTS sets the requests per level
    (default 200); TFREC_BENCH_SERVING_ITEMS=1000000 measures the same again on the run grown
    to that many items (tfrec/bench/serving_scale.py; built once, next to the run)."""
    from tfrec.bench.serving import serving_benchmark  # deferred: loads TensorFlow and ScaNN
    from tfrec.bench.serving_scale import scale_run  # deferred: as above

    run = RunDir(cfg.run_path)
    requests = int(os.environ.get("TFREC_BENCH_SERVING_REQUESTS", "200"))
    api_key = cfg.serving.api_key or os.environ.get("TFREC_API_KEY")
    out = serving_benchmark(
        run.root, requests=requests, candidates=cfg.serving.candidates, api_key=api_key
    )
    items = int(os.environ.get("TFREC_BENCH_SERVING_ITEMS", "0") or 0)
    if items:
        scaled = scale_run(run.root, items)
        out["scaled"] = serving_benchmark(
            scaled,
            requests=requests,
            candidates=cfg.serving.candidates,
            api_key=api_key,
            # the stock-ops copy of the index is not loaded: a million 384-d vectors each
            server_overrides=("serving.models=[tfrec_scann, tfrec_ranker]",),
        )
        out["scaled"]["items"] = items
    return out


def bench_index(cfg: Config) -> dict:
    """ScaNN and the device index (approx_max_k, exact TensorFlow) against exact brute force
    queries/s at equal recall@10 on random unit embeddings (dim 64) of TFREC_BENCH_INDEX_SIZES
    items (default 100000,1000000), as ratios."""
    sizes = [int(n) for n in os.environ.get("TFREC_BENCH_INDEX_SIZES", "100000,1000000").split(",")]
    return index_benchmark(sizes, dim=64)


def bench_finetune(cfg: Config) -> dict:
    """The config's search relevance with a frozen and a fine-tuned (`top_k_layers`) text
    tower, paired on the same test searches (tfrec/bench/finetune.py); runs into
    runs/bench_finetune/<name>/<mode> and reuses runs from the same config."""
    from tfrec.bench.finetune import bench_finetune_section  # deferred: loads TensorFlow

    return bench_finetune_section(cfg)


def bench_relevance(cfg: Config) -> dict:
    """Retrieval quality of every model and baseline on the demo shop, the hard_search and
    ratings_nosession presets and Online Retail, side by side (tfrec/bench/relevance.py); runs
    into runs/bench_relevance/<dataset> and reuses a run whose config has not changed."""
    from tfrec.bench.relevance import bench_relevance_section  # deferred: loads TensorFlow

    return bench_relevance_section(cfg)


SECTIONS: dict[str, Callable[[Config], dict]] = {
    "training": bench_training,
    "encoding": bench_encoding,
    "synthetic": bench_synthetic,
    "serving": bench_serving,
    "index": bench_index,
    "ranking": bench_ranking,
    "relevance": bench_relevance,
    "finetune": bench_finetune,
}
# sections that run only when `--only` names them (they train models for many minutes)
OPT_IN = ("relevance", "finetune")


def run_benchmarks(cfg: Config, only: list[str] | None = None) -> dict:
    """Run the chosen sections (all but the `OPT_IN` ones by default); results also go to
    <run>/bench.json."""
    names = only or [n for n in SECTIONS if n not in OPT_IN]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown bench section(s) {unknown}; known: {', '.join(SECTIONS)}")
    results = {}
    for name in names:
        echo(f"[bench] --- {name} ---")
        results[name] = SECTIONS[name](cfg)
    out = RunDir(cfg.run_path).bench
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float))
    echo(f"[bench] results in {out}")
    return results
