"""`tfrec bench CONFIG --only serving`: latency and throughput of `/search` against the lower
bound measured in the same run.

The lower bound is the work a search cannot avoid, timed in this process on one stream: the
exported `query_encoder` signature on one query (tokenizer + BERT + query tower) and a search of
the run's index (`search_positions`: ScaNN pybind, or the device index of `index.kind` exact or
approx_max_k) for the same number of candidates the server retrieves. Then `tfrec serve` is
started in a child process on 127.0.0.1 (any free port) and `/search` is called by 1, 8 and 32
concurrent keep-alive clients, a fixed number of requests per level (real queries of the run,
fixed seed), each level bounded in time. The server is always stopped before returning.
"""

from __future__ import annotations

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
import tensorflow as tf

from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.index.kinds import load_item_index
from tfrec.serving.models import load_version

REPO = Path(__file__).resolve().parents[2]
CONCURRENCY = (1, 8, 32)


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


def latest_version(base: Path) -> Path:
    """The newest version directory of one exported model (`RunDir.export_model(name)`)."""
    versions = (
        sorted(int(p.name) for p in base.iterdir() if p.name.isdigit()) if base.exists() else []
    )
    if not versions:
        raise FileNotFoundError(f"{base} holds no version: export first (`tfrec export CONFIG`)")
    return base / str(versions[-1])


def lower_bound(run_dir: Path, queries: list[str], candidates: int, warmup: int = 5) -> dict:
    """Query encoder forward + index search, in process, one query at a time."""
    run = RunDir(run_dir)
    name = "tfrec_scann" if run.export_model("tfrec_scann").exists() else "tfrec"
    version = load_version(name, latest_version(run.export_model(name)))
    encode = version.loaded.signatures["query_encoder"]
    index = load_item_index(run.index)
    k = min(candidates, int(version.info.get("max_k", candidates)), len(index))

    def one(q: str) -> None:
        emb = encode(
            query=tf.constant([q]), user_id=tf.constant([""]), recent_item_ids=tf.constant([[""]])
        )["embedding"]
        index.search_positions(emb.numpy(), k)

    for q in queries[:warmup]:
        one(q)
    latencies = []
    t0 = time.perf_counter()
    for q in queries:
        s = time.perf_counter()
        one(q)
        latencies.append(time.perf_counter() - s)
    wall = time.perf_counter() - t0
    return {
        "model": f"{name}:{version.version}",
        "k": k,
        "requests": len(queries),
        "qps": len(queries) / wall,
        **percentiles(latencies),
    }


class ServerProcess:
    """`tfrec serve RUN_DIR` in a child process on 127.0.0.1, any free port; a context manager
    that always stops it (SIGINT, then SIGKILL after `stop_seconds`)."""

    def __init__(self, run_dir: Path, start_seconds: float = 300, stop_seconds: float = 20):
        self.run_dir = Path(run_dir)
        self.start_seconds = start_seconds
        self.stop_seconds = stop_seconds
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    def __enter__(self) -> ServerProcess:
        self._log = tempfile.NamedTemporaryFile("w+", prefix="tfrec-serve-", suffix=".log")
        cmd = [sys.executable, "-m", "tfrec.cli", "serve", str(self.run_dir)]
        cmd += ["--host", "127.0.0.1", "--port", "0", "--grpc-port", "0"]
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
    concurrency: tuple[int, ...] = CONCURRENCY,
    max_seconds: float = 120,
    api_key: str | None = None,
) -> dict:
    """The `serving` bench section: lower bound, then /search at each concurrency level."""
    run_dir = Path(run_dir)
    queries = run_queries(run_dir, requests)
    bound = lower_bound(run_dir, queries, candidates)
    echo(
        f"[bench] /search on {run_dir} (model {bound['model']}, k={k}, {bound['k']} candidates), "
        f"{requests} requests per level, {len(queries)} distinct logged queries, loopback"
    )
    echo(
        f"[bench] lower bound in process (query_encoder + index search of {bound['k']}, one "
        f"stream): p50 {bound['p50_ms']:.1f} ms, p95 {bound['p95_ms']:.1f} ms, "
        f"p99 {bound['p99_ms']:.1f} ms, {bound['qps']:.1f} queries/s"
    )
    levels = []
    with ServerProcess(run_dir) as server:
        # warm the server (first requests pay one-off costs)
        load_level(server.port, queries, 2, min(10, requests), k, max_seconds, api_key)
        echo(
            f"[bench] {'clients':>7s} {'ok':>5s} {'err':>4s} {'p50 ms':>8s} {'p95 ms':>8s} "
            f"{'p99 ms':>8s} {'QPS':>7s} {'p50/bound':>10s} {'QPS/bound':>10s}"
        )
        for clients in concurrency:
            r = load_level(server.port, queries, clients, requests, k, max_seconds, api_key)
            r["p50_over_bound"] = r["p50_ms"] / bound["p50_ms"]
            r["qps_over_bound"] = r["qps"] / bound["qps"]
            levels.append(r)
            echo(
                f"[bench] {clients:7d} {r['ok']:5d} {r['errors']:4d} {r['p50_ms']:8.1f} "
                f"{r['p95_ms']:8.1f} {r['p99_ms']:8.1f} {r['qps']:7.1f} "
                f"{r['p50_over_bound']:10.2f} {r['qps_over_bound']:10.2f}"
            )
            if r["errors"]:
                echo(f"[bench]   first error: {r['first_error']}")
    return {"lower_bound": bound, "levels": levels, "k": k, "requests_per_level": requests}
