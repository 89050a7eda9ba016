"""`tfrec bench CONFIG --only index`: ScaNN and the device index kinds (`tf.math.approx_max_k`
in float32 and bfloat16, exact matmul + `tf.math.top_k`) against exact numpy brute force at
equal recall@10, on random unit embeddings, as ratios of queries/s measured in the same run."""

from __future__ import annotations

import contextlib
import os
import time

import numpy as np

from tfrec.config import IndexConfig
from tfrec.core.log import echo
from tfrec.index.exact import exact_top_k, recall_against, synthetic_queries
from tfrec.index.params import RECALL_K, choose_params, scann_config_text
from tfrec.index.scann_index import ItemIndex
from tfrec.index.search_tuner import tune_search

# the device-index variants measured per target: (kind, stored dtype)
DEVICE_VARIANTS = (("approx_max_k", "float32"), ("approx_max_k", "bfloat16"))
DTYPE_LABELS = {"float32": "f32", "bfloat16": "bf16", "float16": "f16"}


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
    """ScaNN (tree + AH + reorder, parameters from `choose_params`) and the device index
    (`tfrec.index.device_graph.device_search`: `approx_max_k` in float32 and bfloat16, and the
    exact kind) against exact brute force (numpy float32 matmul + argpartition) on random unit
    embeddings. For each target recall@10, ScaNN runs at the cheapest setting that reaches it on
    the queries (items plus noise, as `synthetic_queries`): `tune_search` searches
    `leaves_to_search` both ways from `choose_params`' start, then `reorder`; `approx_max_k` runs
    with the target as its `recall_target`; every row prints the recall it measured; brute force is exact (recall
    1.0 >= every target). Throughput is measured one query at a time (serving) and in batches of
    256, each bounded by `max_seconds`; ScaNN and numpy on one thread each (BLAS limited through
    threadpoolctl where installed: on a shared machine a multi-threaded BLAS measures the
    neighbours' load more than itself), the TensorFlow rows on the device TensorFlow places the
    table on (the GPU when it sees one, else its CPU thread pool, whose size the header prints);
    ratios are queries/s over brute-force queries/s in the same mode.

    Args:
        sizes: catalog sizes to measure (one ScaNN index each).
        dim: embedding dimension.
        targets: the recall@10 targets.
        num_queries: queries per size.
        k: neighbours per query.
        max_seconds: time bound of each throughput measurement.
        seed: random seed of the embeddings (the queries use `seed + 1`).

    Returns:
        `{"dim", "k", "threads", "rows"}`: per size, for each target a ScaNN row and one row
        per `DEVICE_VARIANTS`, then one exact TensorFlow row (`method`, `target_recall`,
        `recall_at_10`, `qps`, `ratio`, `batched_qps`, `batched_ratio`, ...).

    Example:
    ```python
    out = index_benchmark([100_000], dim=64)
    [(r["method"], r["ratio"]) for r in out["rows"]]
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
    searcher = scann_ops_pybind.create_searcher(
        db, scann_config_text(db, params), docids=[str(i) for i in range(n)]
    )
    build_s = time.perf_counter() - t1
    index = ItemIndex(searcher, db, [str(i) for i in range(n)], params)
    start = (params.leaves_to_search, params.reorder)

    def brute_force(q):
        return exact_top_k(db, q, k)

    bf_single = _timed_qps(brute_force, queries, max_seconds)
    bf_batch = _timed_qps(brute_force, queries, max_seconds, 256)
    device = _DeviceSearch(db, k)
    echo(
        f"[bench] index: {n:,} random unit vectors, dim {dim}, {len(queries)} queries; "
        f"ScaNN {params.num_leaves} leaves, AH {params.dims_per_block} dims/block, reorder "
        f"{params.reorder}, built in {build_s:.1f} s; exact brute force (numpy) "
        f"{bf_single:,.0f} q/s single, {bf_batch:,.0f} q/s in batches of 256 ({threads}); "
        f"TensorFlow rows on {device.where}"
    )
    echo(
        f"[bench] {'method':<18s} {'target':>6s} {'recall@10':>9s} {'q/s':>9s} {'x brute':>8s} "
        f"{'batched q/s':>12s} {'x brute':>8s}  setting"
    )
    brute = {"brute_force_qps": bf_single, "brute_force_batched_qps": bf_batch, "num_items": n}

    def row(method, target, recall, single, batched, setting, **extra) -> dict:
        out = {
            "method": method,
            "target_recall": target,
            "recall_at_10": recall,
            "qps": single,
            "ratio": single / bf_single,
            "batched_qps": batched,
            "batched_ratio": batched / bf_batch,
            **brute,
            **extra,
        }
        echo(
            f"[bench] {method:<18s} {'-' if target is None else f'{target:.2f}':>6s} "
            f"{recall:9.4f} {single:9,.0f} {out['ratio']:8.2f} {batched:12,.0f} "
            f"{out['batched_ratio']:8.2f}  {setting}"
        )
        return out

    rows = []
    for target in targets:
        # the cheapest setting meeting the target, searched both ways from the start
        params.leaves_to_search, params.reorder = start
        chosen = tune_search(index, queries, exact, target)
        leaves, recall = chosen.leaves_to_search, chosen.recall_at_10
        kwargs = {
            "final_num_neighbors": k,
            "leaves_to_search": leaves,
            "pre_reorder_num_neighbors": max(chosen.reorder, k),
        }
        single = _timed_qps(lambda q, kw=kwargs: searcher.search(q[0], **kw), queries, max_seconds)
        batched = _timed_qps(
            lambda q, kw=kwargs: searcher.search_batched(q, **kw),
            queries,
            max_seconds,
            256,
        )
        rows.append(
            row(
                "scann",
                target,
                recall,
                single,
                batched,
                f"{leaves}/{params.num_leaves} leaves searched, reorder {chosen.reorder}",
                leaves_to_search=leaves,
                reorder=chosen.reorder,
                num_leaves=params.num_leaves,
                build_seconds=build_s,
            )
        )
        for mode, dtype in DEVICE_VARIANTS:
            search = device.searcher(mode, dtype, target)
            recall = recall_against(_batched(search, queries), exact)
            single = _timed_qps(search, queries, max_seconds)
            batched = _timed_qps(search, queries, max_seconds, 256)
            label = f"{mode} {DTYPE_LABELS[dtype]}"
            rows.append(
                row(label, target, recall, single, batched, f"recall_target {target}", dtype=dtype)
            )
    search = device.searcher("exact", "float32", None)
    recall = recall_against(_batched(search, queries), exact)
    single = _timed_qps(search, queries, max_seconds)
    batched = _timed_qps(search, queries, max_seconds, 256)
    rows.append(
        row("tf exact f32", None, recall, single, batched, "matmul + top_k", dtype="float32")
    )
    echo(f"[bench] index {n:,}: {time.perf_counter() - t0:.1f} s in all")
    return rows


def _batched(search, queries: np.ndarray, batch: int = 256) -> np.ndarray:
    """`search` over all `queries`, `batch` at a time, as one `[B, k]` array."""
    return np.concatenate([search(queries[i : i + batch]) for i in range(0, len(queries), batch)])


class _DeviceSearch:
    """The device index's search (`device_search`) over one table per dtype, placed where
    TensorFlow places variables (the GPU when it sees one)."""

    def __init__(self, db: np.ndarray, k: int):
        # deferred: TensorFlow loads only when the index section runs
        import tensorflow as tf

        # deferred: as above (device_graph imports TensorFlow)
        from tfrec.index.device_graph import TF_DTYPES, device_search

        self.tf, self.db, self.k = tf, db, k
        self.dtypes, self.device_search = TF_DTYPES, device_search
        self.tables = {}
        table = self.table("float32")
        pool = tf.config.threading.get_intra_op_parallelism_threads() or (
            f"default, all {os.cpu_count()} cores"
        )
        where = table.device.rpartition("device:")[2] or "CPU:0"
        self.where = where + (f" (TF intra-op threads: {pool})" if "CPU" in where else "")

    def table(self, dtype: str):
        if dtype not in self.tables:
            value = self.tf.cast(self.tf.constant(self.db), self.dtypes[dtype])
            self.tables[dtype] = self.tf.Variable(value, trainable=False)
        return self.tables[dtype]

    def searcher(self, mode: str, dtype: str, target: float | None):
        """A function `[B, D] float32 -> [B, k] positions` (synchronised: numpy out)."""
        tf, table, k = self.tf, self.table(dtype), self.k
        spec = [tf.TensorSpec([None, self.db.shape[1]], tf.float32), tf.TensorSpec([], tf.int32)]
        fn = tf.function(
            lambda q, kk: self.device_search(table, q, kk, k, mode, target)[0],
            input_signature=spec,
        )
        return lambda q: fn(tf.constant(q), tf.constant(k, tf.int32)).numpy()
