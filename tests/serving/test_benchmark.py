"""The serving benchmark's parts on the tiny run: the server child process starts on a free
loopback port and is always stopped; the load generator counts every request (no timings are
asserted)."""

from tfrec.bench.serving import ServerProcess, load_level, percentiles, run_queries


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
