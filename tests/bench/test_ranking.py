"""The ranking bench section: throughput of the ranker and its baseline, as a ratio."""

import pytest

from tfrec.bench.ranking import ranking_benchmark
from tfrec.config import Config
from tfrec.core.rundir import RunDir


def test_ranking_benchmark_without_trained_models_measures_fresh_ones(
    tmp_path, capsys, monkeypatch
):
    import tfrec.bench.ranking as bench

    real = bench.ranking_throughput
    monkeypatch.setattr(bench, "ranking_throughput", lambda m, n: real(m, n, min_seconds=0.02))
    cfg = Config()
    cfg.ranking.deep_layers = [8]
    out = ranking_benchmark(cfg, RunDir(tmp_path / "run"), sizes=(10, 20))
    assert out["source"].startswith("untrained models of the configured architecture")
    assert [r["candidates per request"] for r in out["rows"]] == [10, 20]
    for r in out["rows"]:
        assert r["ranker / LR"] == pytest.approx(
            r["ranker candidates/s"] / r["logistic regression candidates/s"]
        )
    assert "[bench] ranking throughput" in capsys.readouterr().out
