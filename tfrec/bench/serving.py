"""`tfrec bench CONFIG --only serving`: latency and throughput of `/search` against the lower
bound measured in the same run, with and without server-side batching.

The lower bound is the work a search cannot avoid, timed in this process on one stream: the
exported `query_encoder` signature on one query (tokenizer + BERT + query tower), a search of
the run's index (`search_positions`: ScaNN pybind, or the device index of `index.kind` exact or
approx_max_k) for the same number of candidates the server retrieves and, when a ranker is
exported, its `ranker` signature on the candidates the server re-ranks. The batch capacity is
the same stages on 8 and 32 queries per call (one stream): a full server batch of that many
requests costs at least that long, so it is the floor of p99 at that many clients, and it caps
q/s. Then `tfrec serve` is
started in a child process on 127.0.0.1 (any free port), once with `serving.batching` off (the
baseline) and once as the run's config serves, and `/search` is called by 1, 8 and 32
concurrent keep-alive clients, a fixed number of requests per level (real queries of the run,
fixed seed; within a server each level has its own, so no query embedding comes from the
server's cache), each level bounded in time. The servers are always stopped before returning.
"""

from __future__ import annotations

import gc
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from tfrec.config import BatchingConfig, load_config
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.index.kinds import load_item_index
from tfrec.serving.models import load_version
from tfrec.serving.pipeline import RANK_CANDIDATES, RANKER_MODEL, takes_embedding

REPO = Path(__file__).resolve().parents[2]
CONCURRENCY = (1, 8, 32)
# the servers measured, each its own `tfrec serve` child: without batching (the baseline of
# the same run), then with it (the run's other `serving.batching` settings)
SERVER_MODES = (
    ("unbatched", ("serving.batching.enabled=false",)),
    ("batched", ("serving.batching.enabled=true",)),
)


def percentiles(latencies_s: list[float]) -> dict:
    """p50/p95/p99 in milliseconds."""
    a = np.asarray(latencies_s, dtype=np.float64) * 1000
    if a.size == 0:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99)}


def run_queries(run_dir: Path, n: int, seed: int = 0) -> list[str]:
    """`n` distinct logged search queries of the run (fixed seed)."""
    path = RunDir(run_dir).clean_table("events")
    events = pd.read_parquet(path, columns=["query"])
    queries = events["query"].dropna().astype(str).str.strip()
    queries = sorted(set(queries[queries.str.len() > 0]))
    if not queries:
        raise ValueError(f"{path} holds no search queries")
    rng = np.random.default_rng(seed)
    return [queries[i] for i in rng.choice(len(queries), size=min(n, len(queries)), replace=False)]


def level_queries(pool: list[str], start: int, n: int) -> list[str]:
    """`n` queries of `pool` from `start` on, wrapping round when the pool is short."""
    return [pool[(start + i) % len(pool)] for i in range(n)]


def latest_version(base: Path) -> Path:
    """The newest version directory of one exported model (`RunDir.export_model(name)`)."""
    versions = (
        sorted(int(p.name) for p in base.iterdir() if p.name.isdigit()) if base.exists() else []
    )
    if not versions:
        raise FileNotFoundError(f"{base} holds no version: export first (`tfrec export CONFIG`)")
    return base / str(versions[-1])


class SearchStages:
    """Every model stage of a `/search`, in this process, on a batch of queries: the exported
    `query_encoder` on all of them in one call, one search of the run's index for `candidates`
    items each and, when a ranker is exported, one `ranker` call on the top `rank_candidates` of
    every query (their rows stacked, as a server batch stacks requests).

    Args:
        run_dir: an exported run (`tfrec_scann` or `tfrec`, its index, maybe `tfrec_ranker`).
        candidates: items each query takes from the index (the server's `serving.candidates`).
        rank_candidates: of those, how many the ranker scores.

    Example:
    ```python
    stages = SearchStages(Path("runs/quickstart"), 200, 100)
    found = stages(["red mug", "usb cable"])  # [2, 100] index positions, both re-scored
    ```
    """

    def __init__(self, run_dir: Path, candidates: int, rank_candidates: int):
        run = RunDir(run_dir)
        self.name = "tfrec_scann" if run.export_model("tfrec_scann").exists() else "tfrec"
        self.version = load_version(self.name, latest_version(run.export_model(self.name)))
        self.ranker = None
        if run.export_model(RANKER_MODEL).exists():
            path = latest_version(run.export_model(RANKER_MODEL))
            self.ranker = load_version(RANKER_MODEL, path)
        self.index = load_item_index(run.index)
        self.k = min(candidates, int(self.version.info.get("max_k", candidates)), len(self.index))
        self.rank_candidates = rank_candidates
        ranker = self.ranker
        self.position = int(ranker.info.get("serving_position", 1)) if ranker is not None else 1
        self.embedded = ranker is not None and takes_embedding(ranker, self.version)

    def __call__(self, queries: list[str]) -> np.ndarray:
        n = len(queries)
        emb = self.version.run(
            "query_encoder",
            {
                "query": np.array(queries, object),
                "user_id": np.array([""] * n, object),
                "recent_item_ids": np.full((n, 1), "", object),
            },
        )["embedding"]
        found = np.asarray(self.index.search_positions(emb, self.k)[0])[:, : self.rank_candidates]
        if self.ranker is not None:
            per_query = found.shape[1]
            m = n * per_query
            inputs = {
                "recent_item_ids": np.full((m, 1), "", object),
                "item_id": np.array([self.index.item_ids[i] for i in found.reshape(-1)], object),
                "position": np.full(m, self.position, np.int64),
                "hour": np.full(m, 12, np.int64),
            }
            if self.embedded:  # as /search does: the query embedding is handed over
                inputs["query_embedding"] = np.repeat(emb, per_query, 0)
                self.ranker.run("ranker_embedded", inputs)
            else:
                inputs["query"] = np.repeat(np.array(queries, object), per_query)
                inputs["user_id"] = np.full(m, "", object)
                self.ranker.run("ranker", inputs)
        return found


def lower_bound(stages: SearchStages, queries: list[str], warmup: int = 5) -> dict:
    """`stages` one query at a time, one stream: the least a `/search` costs."""
    for q in queries[:warmup]:
        stages([q])
    latencies = []
    t0 = time.perf_counter()
    for q in queries:
        s = time.perf_counter()
        stages([q])
        latencies.append(time.perf_counter() - s)
    wall = time.perf_counter() - t0
    return {
        "model": f"{stages.name}:{stages.version.version}",
        "ranker": None if stages.ranker is None else f"{RANKER_MODEL}:{stages.ranker.version}",
        "k": stages.k,
        "ranked": min(stages.k, stages.rank_candidates) if stages.ranker is not None else 0,
        "requests": len(queries),
        "qps": len(queries) / wall,
        **percentiles(latencies),
    }


def batch_capacity(
    stages: SearchStages, queries: list[str], sizes: tuple[int, ...], rounds: int = 5
) -> list[dict]:
    """`stages` on batches of `size` queries, one stream: what a server batch of `size`
    requests costs at the least, with no HTTP, queueing or Python request work. Its time is the
    floor of p99 at `size` clients (every request of a full batch waits for the whole batch)
    and `size` / time the ceiling of q/s.

    Args:
        stages: the loaded stages.
        queries: a pool of queries; each round takes the next `size` (wrapping round).
        sizes: batch sizes (the bench's client counts).
        rounds: timed batches per size (after one warm-up batch); the median is reported.

    Returns:
        one dict per size: `size`, `batch_ms` (median), `qps` (size / median).

    Example:
    ```python
    batch_capacity(stages, queries, (8, 32))[1]["qps"]  # the most /search q/s the models allow
    ```
    """
    out, start = [], 0
    for size in sizes:
        took = []
        for r in range(rounds + 1):
            batch = level_queries(queries, start, size)
            start += size
            s = time.perf_counter()
            stages(batch)
            if r:  # the first batch of a size warms its shapes
                took.append(time.perf_counter() - s)
        median = float(np.median(took))
        out.append({"size": size, "batch_ms": median * 1000, "qps": size / median})
    return out


class ServerProcess:
    """`tfrec serve RUN_DIR [--set serving.KEY=VALUE ...]` in a child process on 127.0.0.1, any
    free port; a context manager that always stops it (SIGINT, then SIGKILL after
    `stop_seconds`)."""

    def __init__(
        self,
        run_dir: Path,
        start_seconds: float = 900,
        stop_seconds: float = 20,
        overrides: tuple[str, ...] = (),
    ):
        self.run_dir = Path(run_dir)
        self.overrides = tuple(overrides)  # `--set serving.KEY=VALUE` of `tfrec serve`
        self.start_seconds = start_seconds
        self.stop_seconds = stop_seconds
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    def __enter__(self) -> ServerProcess:
        self._log = tempfile.NamedTemporaryFile("w+", prefix="tfrec-serve-", suffix=".log")
        cmd = [sys.executable, "-m", "tfrec.cli", "serve", str(self.run_dir)]
        cmd += ["--host", "127.0.0.1", "--port", "0", "--grpc-port", "0"]
        for item in self.overrides:
            cmd += ["--set", item]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT, env=env
        )
        deadline = time.time() + self.start_seconds
        try:
            while time.time() < deadline:
                text = Path(self._log.name).read_text(errors="replace")
                m = re.search(r"\[serve\] REST http://127\.0\.0\.1:(\d+)", text)
                if m:
                    self.port = int(m.group(1))
                    return self
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"tfrec serve exited ({self.proc.returncode}):\n{text[-2000:]}"
                    )
                time.sleep(0.2)
            raise TimeoutError(f"tfrec serve did not start within {self.start_seconds:.0f} s")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=self.stop_seconds)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=self.stop_seconds)
        self._log.close()

    def __exit__(self, *exc) -> None:
        self.stop()


def load_level(
    port: int,
    queries: list[str],
    clients: int,
    requests: int,
    k: int,
    max_seconds: float,
    api_key: str | None = None,
) -> dict:
    """`requests` GET /search calls shared by `clients` threads with keep-alive connections;
    no new request starts after `max_seconds`."""
    lock = threading.Lock()
    state = {"next": 0}
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.perf_counter() + max_seconds

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            while time.perf_counter() < deadline:
                with lock:
                    i = state["next"]
                    if i >= requests:
                        return
                    state["next"] += 1
                path = "/search?" + urlencode({"q": queries[i % len(queries)], "k": k})
                s = time.perf_counter()
                try:
                    conn.request("GET", path, headers={"X-API-Key": api_key} if api_key else {})
                    resp = conn.getresponse()
                    body = resp.read()
                    ok = resp.status == 200 and json.loads(body).get("items")
                except (OSError, http.client.HTTPException, ValueError) as e:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    ok, body = False, str(e).encode()
                took = time.perf_counter() - s
                with lock:
                    if ok:
                        latencies.append(took)
                    else:
                        errors.append(body[:200].decode(errors="replace"))
        finally:
            conn.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_seconds + 120)
    wall = time.perf_counter() - t0
    return {
        "clients": clients,
        "requests": len(latencies) + len(errors),
        "ok": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": wall,
        "qps": len(latencies) / wall if wall else 0.0,
        **percentiles(latencies),
    }


def serving_benchmark(
    run_dir: Path,
    requests: int = 200,
    k: int = 10,
    candidates: int = 200,
    rank_candidates: int = RANK_CANDIDATES,
    concurrency: tuple[int, ...] = CONCURRENCY,
    max_seconds: float = 120,
    api_key: str | None = None,
    server_overrides: tuple[str, ...] = (),
) -> dict:
    """The `serving` bench section: lower bound, then /search at each concurrency level
    (`server_overrides`: more `--set serving.KEY=VALUE` for both servers)."""
    run_dir = Path(run_dir)
    # every level of a server gets queries it has not seen: the query encoder's cache of
    # recent embeddings (`ServedQueryEncoder`) would otherwise answer repeats without BERT,
    # which the lower bound runs for every query
    warmup = min(10, requests)
    pool = run_queries(run_dir, warmup + requests * len(concurrency))
    search_stages = SearchStages(run_dir, candidates, rank_candidates)
    bound = lower_bound(search_stages, pool[:requests])
    sizes = tuple(c for c in concurrency if c > 1)
    capacity = batch_capacity(search_stages, pool[:requests], sizes)
    del search_stages
    gc.collect()  # the bound's models and index leave before the servers load theirs
    cfg_path = RunDir(run_dir).config
    b = load_config(cfg_path).serving.batching if cfg_path.exists() else BatchingConfig()
    echo(
        f"[bench] /search on {run_dir} (model {bound['model']}, ranker {bound['ranker']}, k={k}, "
        f"{bound['k']} candidates, {bound['ranked']} ranked), {requests} requests per level, "
        f"{len(pool)} distinct logged queries (each level its own), loopback; batched: timeout "
        f"{b.batch_timeout_micros} us, max rows {b.max_batch_size}"
    )
    stages = "query_encoder + index search" + (" + ranker" if bound["ranker"] else "")
    echo(
        f"[bench] lower bound in process ({stages}, one stream): p50 {bound['p50_ms']:.1f} ms, "
        f"p95 {bound['p95_ms']:.1f} ms, p99 {bound['p99_ms']:.1f} ms, "
        f"{bound['qps']:.1f} queries/s"
    )
    for c in capacity:
        echo(
            f"[bench] batch capacity in process (the same stages on {c['size']} queries per "
            f"call, one stream): {c['batch_ms']:.1f} ms per batch = the p99 floor at "
            f"{c['size']} clients ({c['batch_ms'] / bound['p99_ms']:.2f}x the bound's p99), "
            f"{c['qps']:.1f} queries/s at most"
        )
    levels = []
    echo(
        f"[bench] {'server':>9s} {'clients':>7s} {'ok':>5s} {'err':>4s} {'p50 ms':>8s} "
        f"{'p95 ms':>8s} {'p99 ms':>8s} {'QPS':>7s} {'p99/bound':>10s} {'QPS/bound':>10s} "
        f"{'QPS/unbatched':>14s}"
    )
    unbatched: dict[int, float] = {}
    for mode, overrides in SERVER_MODES:
        with ServerProcess(run_dir, overrides=(*overrides, *server_overrides)) as server:
            # warm the server (first requests pay one-off costs)
            load_level(
                server.port, level_queries(pool, 0, warmup), 2, warmup, k, max_seconds, api_key
            )
            for i, clients in enumerate(concurrency):
                queries = level_queries(pool, warmup + i * requests, requests)
                r = load_level(server.port, queries, clients, requests, k, max_seconds, api_key)
                r["server"] = mode
                r["p50_over_bound"] = r["p50_ms"] / bound["p50_ms"]
                r["p99_over_bound"] = r["p99_ms"] / bound["p99_ms"]
                r["qps_over_bound"] = r["qps"] / bound["qps"]
                if mode == "unbatched":
                    unbatched[clients] = r["qps"]
                elif unbatched.get(clients):
                    r["qps_over_unbatched"] = r["qps"] / unbatched[clients]
                levels.append(r)
                ratio = r.get("qps_over_unbatched")
                echo(
                    f"[bench] {mode:>9s} {clients:7d} {r['ok']:5d} {r['errors']:4d} "
                    f"{r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['p99_ms']:8.1f} {r['qps']:7.1f} "
                    f"{r['p99_over_bound']:10.2f} {r['qps_over_bound']:10.2f} "
                    f"{'' if ratio is None else f'{ratio:.2f}':>14s}"
                )
                if r["errors"]:
                    echo(f"[bench]   first error: {r['first_error']}")
    return {
        "lower_bound": bound,
        "capacity": capacity,
        "levels": levels,
        "k": k,
        "requests_per_level": requests,
    }
