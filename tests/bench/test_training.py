"""The training bench section: examples/s of frozen, top_k_layers with and without the
frozen-layer cache, and full, as ratios measured in the same run."""

import pytest
from tiny_run import tiny_config
from tiny_shop import make_shop

import tfrec.bench.training as bench
from tfrec.data.prepared import prepare_data


@pytest.mark.slow
def test_training_bench_reports_every_mode_as_ratios(tmp_path, tiny_bert_dir, capsys, monkeypatch):
    cfg = tiny_config(tmp_path, tiny_bert_dir)
    items, events = make_shop()
    data = prepare_data(items, events, cfg.data.split, cfg.retrieval.price_buckets)
    monkeypatch.setattr(bench, "bench_data", lambda c: data)
    out = bench.bench_training(cfg, steps=2, warmup=1, batch_size=8, trainable_layers=1)
    assert list(out) == ["frozen", "top_k_layers", "top_k_uncached", "full"]
    frozen = out["frozen"]["examples_per_s"]
    for r in out.values():
        assert r["ratio_to_frozen"] == pytest.approx(r["examples_per_s"] / frozen)
    cached, uncached = out["top_k_layers"], out["top_k_uncached"]
    assert cached["ratio_to_uncached"] == pytest.approx(
        cached["examples_per_s"] / uncached["examples_per_s"]
    )
    # the same model trains in both top_k variants; the cache covers every item and query
    assert cached["trainable_weights"] == uncached["trainable_weights"]
    assert out["frozen"]["trainable_weights"] < cached["trainable_weights"]
    assert cached["trainable_weights"] < out["full"]["trainable_weights"]
    assert cached["cache_texts"] == len(data.catalog) + len(data.queries)
    assert cached["cache_mib"] > 0 and "cache_mib" not in uncached
    printed = capsys.readouterr().out
    assert "top_k_uncached" in printed and "with the frozen-layer cache" in printed
