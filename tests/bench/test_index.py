"""The index bench section: ScaNN reaches each recall target (or searches every leaf)."""

from tfrec.bench.index import index_benchmark


def test_index_benchmark_reaches_each_target_or_searches_every_leaf(capsys):
    out = index_benchmark([3000], dim=8, targets=(0.8, 0.95), num_queries=50, max_seconds=0.05)
    rows = out["rows"]
    assert [r["target_recall"] for r in rows] == [0.8, 0.95]
    for r in rows:
        assert r["recall_at_10"] >= r["target_recall"] or r["leaves_to_search"] == r["num_leaves"]
        assert r["ratio"] == r["scann_qps"] / r["brute_force_qps"]
    assert rows[0]["leaves_to_search"] <= rows[1]["leaves_to_search"]
    assert "[bench] index 3,000:" in capsys.readouterr().out
