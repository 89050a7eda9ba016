"""`tfrec bench CONFIG --only index`: ScaNN against exact brute force at equal recall@10, on
random unit embeddings, as ratios of queries/s measured in the same run."""

from __future__ import annotations

import contextlib
import time

import numpy as np

from tfrec.config import IndexConfig
from tfrec.core.log import echo
from tfrec.index.exact import exact_top_k, recall_against, synthetic_queries
from tfrec.index.params import RECALL_K, choose_params, scann_config_text


def random_unit_embeddings(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """`n` random L2-normalised float32 vectors (generated in chunks to bound memory).

    Args:
        n: how many vectors.
        dim: their dimension.
        seed: the random seed.

    Returns:
        `[n, dim]` float32 unit vectors.

    Example:
    ```python
    db = random_unit_embeddings(100_000, 64, seed=0)
    ```
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):
        x = rng.standard_normal((min(100_000, n - start), dim), dtype=np.float32)
        out[start : start + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def _timed_qps(fn, queries: np.ndarray, max_seconds: float, batch: int = 1) -> float:
    """Queries/s of `fn` over `queries` (`batch` at a time), stopping after `max_seconds`."""
    fn(queries[:batch])  # warm-up
    done, t0 = 0, time.perf_counter()
    for start in range(0, len(queries), batch):
        fn(queries[start : start + batch])
        done += len(queries[start : start + batch])
        if time.perf_counter() - t0 > max_seconds:
            break
    return done / (time.perf_counter() - t0)


def index_benchmark(
    sizes: list[int],
    dim: int = 64,
    targets: tuple[float, ...] = (0.9, 0.95, 0.99),
    num_queries: int = 1000,
    k: int = RECALL_K,
    max_seconds: float = 5.0,
    seed: int = 0,
) -> dict:
    """ScaNN (tree + AH + reorder, parameters from `choose_params`) against exact brute force
    (numpy float32 matmul + argpartition) on random unit embeddings. For each target recall@10,
    `leaves_to_search` is raised until ScaNN reaches it on the queries (items plus noise, as
    `synthetic_queries`); brute force is exact (recall 1.0 >= every target). Throughput is
    measured one query at a time (serving) and in batches of 256, each bounded by `max_seconds`,
    on one thread each (BLAS limited to one thread through threadpoolctl where installed: on a
    shared machine a multi-threaded BLAS measures the neighbours' load more than itself); ratios
    are ScaNN queries/s over brute-force queries/s in the same mode.

    Args:
        sizes: catalog sizes to measure (one ScaNN index each).
        dim: embedding dimension.
        targets: the recall@10 targets.
        num_queries: queries per size.
        k: neighbours per query.
        max_seconds: time bound of each throughput measurement.
        seed: random seed of the embeddings (the queries use `seed + 1`).

    Returns:
        `{"dim", "k", "threads", "rows"}`, one row per size and target.

    Example:
    ```python
    out = index_benchmark([100_000], dim=64)
    [r["ratio"] for r in out["rows"]]
    ```
    """
    try:
        # deferred: threadpoolctl is optional
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(limits=1, user_api="blas")
        threads = "one thread each"
    except ImportError:  # optional: without it BLAS uses its default threads
        limit = contextlib.nullcontext()
        threads = "ScaNN one thread, BLAS default threads"
    rows = []
    with limit:
        for n in sizes:
            rows += _bench_index_size(n, dim, targets, num_queries, k, max_seconds, seed, threads)
    return {"dim": dim, "k": k, "threads": threads, "rows": rows}


def _bench_index_size(n, dim, targets, num_queries, k, max_seconds, seed, threads) -> list[dict]:
    # deferred: scann is a heavy dependency, loaded only when the index section runs
    from scann.scann_ops.py import scann_ops_pybind

    t0 = time.perf_counter()
    db = random_unit_embeddings(n, dim, seed)
    queries = synthetic_queries(db, num_queries, seed + 1)
    exact = exact_top_k(db, queries, k)
    params = choose_params(n, IndexConfig(brute_force_below=0))
    t1 = time.perf_counter()
    searcher = scann_ops_pybind.create_searcher(db, scann_config_text(db, params))
    build_s = time.perf_counter() - t1

    def brute_force(q):
        return exact_top_k(db, q, k)

    bf_single = _timed_qps(brute_force, queries, max_seconds)
    bf_batch = _timed_qps(brute_force, queries, max_seconds, 256)
    echo(
        f"[bench] index: {n:,} random unit vectors, dim {dim}, {len(queries)} queries; "
        f"ScaNN {params.num_leaves} leaves, AH {params.dims_per_block} dims/block, reorder "
        f"{params.reorder}, built in {build_s:.1f} s; exact brute force (numpy) "
        f"{bf_single:,.0f} q/s single, {bf_batch:,.0f} q/s in batches of 256 ({threads})"
    )
    echo(
        f"[bench] {'target':>7s} {'leaves':>7s} {'recall@10':>10s} {'ScaNN q/s':>10s} "
        f"{'x brute':>8s} {'batched q/s':>12s} {'x brute':>8s}"
    )
    rows, leaves = [], max(1, params.leaves_to_search)
    for target in targets:
        while True:
            kwargs = {
                "final_num_neighbors": k,
                "leaves_to_search": leaves,
                "pre_reorder_num_neighbors": params.reorder,
            }
            approx, _ = searcher.search_batched(queries, **kwargs)
            recall = recall_against(np.asarray(approx), exact)
            if recall >= target or leaves >= params.num_leaves:
                break
            leaves = min(params.num_leaves, max(leaves + 1, leaves * 5 // 4))
        single = _timed_qps(lambda q, kw=kwargs: searcher.search(q[0], **kw), queries, max_seconds)
        batched = _timed_qps(
            lambda q, kw=kwargs: searcher.search_batched(q, **kw),
            queries,
            max_seconds,
            256,
        )
        row = {
            "num_items": n,
            "target_recall": target,
            "leaves_to_search": leaves,
            "recall_at_10": recall,
            "scann_qps": single,
            "brute_force_qps": bf_single,
            "ratio": single / bf_single,
            "scann_batched_qps": batched,
            "brute_force_batched_qps": bf_batch,
            "batched_ratio": batched / bf_batch,
            "build_seconds": build_s,
            "num_leaves": params.num_leaves,
        }
        rows.append(row)
        echo(
            f"[bench] {target:7.2f} {leaves:7d} {recall:10.4f} {single:10,.0f} "
            f"{row['ratio']:8.2f} {batched:12,.0f} {row['batched_ratio']:8.2f}"
        )
    echo(f"[bench] index {n:,}: {time.perf_counter() - t0:.1f} s in all")
    return rows
