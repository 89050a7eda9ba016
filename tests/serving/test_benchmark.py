"""The serving benchmark's parts on the tiny run: the server child process starts on a free
loopback port and is always stopped; the load generator counts every request (no timings are
asserted)."""

from tfrec.bench.serving import (
    ServerProcess,
    level_queries,
    load_level,
    percentiles,
    run_queries,
)


def test_server_process_and_load_level(exported_run):
    _, run, *_ = exported_run
    queries = run_queries(run.root, 5)
    assert len(queries) == len(set(queries)) and all(q.strip() for q in queries)
    with ServerProcess(run.root, start_seconds=240) as server:
        assert server.port
        r = load_level(server.port, queries, clients=3, requests=7, k=3, max_seconds=60)
        proc = server.proc
    assert proc.poll() is not None  # stopped on leaving the block
    assert (r["ok"], r["errors"], r["requests"]) == (7, 0, 7)
    assert r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] and r["qps"] > 0


def test_percentiles_of_nothing_are_nan():
    p = percentiles([])
    assert all(v != v for v in p.values())
    assert percentiles([0.001, 0.002, 0.003])["p50_ms"] == 2.0


def test_levels_get_queries_the_server_has_not_seen():
    # the query encoder caches recent single queries: a level repeating an earlier level's
    # queries would measure the cache, not BERT
    pool = [f"q{i}" for i in range(25)]
    warmup, requests = 4, 7
    levels = [level_queries(pool, 0, warmup)]
    levels += [level_queries(pool, warmup + i * requests, requests) for i in range(3)]
    flat = [q for level in levels for q in level]
    assert len(flat) == len(set(flat)) == warmup + 3 * requests
    # a short pool wraps round instead of failing
    assert level_queries(["a", "b"], 1, 3) == ["b", "a", "b"]
