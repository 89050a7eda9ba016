"""Tests for tfrec/bench/finetune.py: frozen and top_k_layers runs of one config, compared on
the same test searches with paired bootstrap intervals."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_run import tiny_synthetic_config

import tfrec.bench.finetune as ft
from tfrec.bench import OPT_IN, SECTIONS
from tfrec.config import Config, load_config
from tfrec.core.rundir import RunDir


def tiny_config(tmp_path: Path, bert_dir: Path) -> Config:
    """A small synthetic shop with searches, the tiny BERT (top layer fine-tuned), one epoch."""
    cfg = tiny_synthetic_config(tmp_path, bert_dir, "tiny_finetune")
    cfg.text.trainable_layers = 1
    return cfg


def test_configs_differ_in_the_text_mode_and_the_fine_tuned_epochs() -> None:
    cfg = Config(name="x")
    cfg.retrieval.epochs = 15
    out = ft.finetune_configs(cfg, epochs=3)
    assert list(out) == ["frozen", "top_k_layers"]
    assert out["frozen"].text.mode == "frozen" and out["frozen"].retrieval.epochs == 15
    assert out["top_k_layers"].retrieval.epochs == 3
    assert cfg.text.mode == "frozen" and cfg.retrieval.epochs == 15  # not changed in place
    assert "finetune" in SECTIONS and "finetune" in OPT_IN


@pytest.mark.slow
def test_a_tiny_config_trains_both_modes_and_pairs_them(tmp_path, tiny_bert_dir, capsys):
    cfg = tiny_config(tmp_path, tiny_bert_dir)
    root = tmp_path / "bench"
    out = ft.finetune_benchmark(cfg, root=root, epochs=1)
    assert {m: r["status"] for m, r in out["runs"].items()} == {
        "frozen": "ran",
        "top_k_layers": "ran",
    }
    assert load_config(RunDir(root / cfg.name / "top_k_layers").config).text.mode == "top_k_layers"
    models = {(r["slice"], r["model"]) for r in out["table"]}
    assert {("all", "zero_shot"), ("all", "frozen"), ("all", "top_k_layers")} <= models
    comparisons = {(r["slice"], r["comparison"], r["metric"]) for r in out["comparisons"]}
    for pair in ("top_k_layers - frozen", "top_k_layers - zero_shot", "frozen - zero_shot"):
        for metric in ("recall@100", "ndcg@10"):
            assert ("all", pair, metric) in comparisons
    for r in out["comparisons"]:
        assert r["95% low"] <= r["difference"] <= r["95% high"]
    printed = capsys.readouterr().out
    assert "paired differences on the same searches" in printed
    # the reloaded models reproduce what their evaluate stages printed
    assert "finetune: WARNING" not in printed
    again = ft.finetune_benchmark(cfg, root=root, epochs=1)
    assert {r["status"] for r in again["runs"].values()} == {"reused"}
    assert again["comparisons"] == out["comparisons"]
