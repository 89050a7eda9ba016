"""The index bench section: ScaNN reaches each recall target (or searches every leaf); the
device index rows (approx_max_k in float32 and bfloat16 at each target, exact TensorFlow once)
are printed next to it with their measured recall."""

import pytest

from tfrec.bench.index import DEVICE_VARIANTS, index_benchmark


def test_index_benchmark_reaches_each_target_or_searches_every_leaf(capsys):
    out = index_benchmark([3000], dim=8, targets=(0.8, 0.95), num_queries=50, max_seconds=0.05)
    rows = out["rows"]
    scann = [r for r in rows if r["method"] == "scann"]
    assert [r["target_recall"] for r in scann] == [0.8, 0.95]
    for r in scann:
        assert r["recall_at_10"] >= r["target_recall"] or r["leaves_to_search"] == r["num_leaves"]
    for r in rows:
        assert r["ratio"] == r["qps"] / r["brute_force_qps"]
        assert r["batched_ratio"] == r["batched_qps"] / r["brute_force_batched_qps"]
    assert scann[0]["leaves_to_search"] <= scann[1]["leaves_to_search"]
    printed = capsys.readouterr().out
    assert "[bench] index 3,000:" in printed
    assert "approx_max_k bf16" in printed and "tf exact f32" in printed


def test_index_benchmark_device_rows_follow_each_target_and_exact_is_exact():
    out = index_benchmark([3000], dim=8, targets=(0.9,), num_queries=50, max_seconds=0.05)
    methods = [r["method"] for r in out["rows"]]
    assert methods == ["scann", "approx_max_k f32", "approx_max_k bf16", "tf exact f32"]
    assert [r["dtype"] for r in out["rows"][1:3]] == [dtype for _, dtype in DEVICE_VARIANTS]
    approx_f32 = out["rows"][1]
    assert approx_f32["target_recall"] == 0.9
    assert approx_f32["recall_at_10"] >= 0.9
    # random unit vectors have no exact ties, so float32 exact search finds every neighbour
    assert out["rows"][-1]["recall_at_10"] == pytest.approx(1.0)
    assert out["rows"][-1]["target_recall"] is None
