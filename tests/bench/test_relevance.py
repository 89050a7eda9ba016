"""Tests for tfrec/bench/relevance.py: datasets run into their folders, reuse, the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_run import tiny_synthetic_config

import tfrec.bench.relevance as rel
from tfrec.bench import OPT_IN, SECTIONS
from tfrec.config import Config, load_config
from tfrec.core.rundir import RunDir


def tiny_config(tmp_path: Path, bert_dir: Path) -> Config:
    """A small synthetic shop, the tiny BERT, one epoch."""
    cfg = tiny_synthetic_config(tmp_path, bert_dir, "tiny_relevance")
    return cfg


def _fake_stages(calls: list[str], recall: float = 0.5):
    """A stand-in for run_stages that writes a metrics.json with a `retrieval` section."""

    def run(cfg: Config, stages: list[str]) -> None:
        calls.append(cfg.run_dir)
        m = {"recall@100": recall, "ndcg@10": recall / 2}
        section = {"feed": {"instances": 3, "slices": {"all": {"trained": m, "zero_shot": m}}}}
        run_dir = RunDir(cfg.run_path)
        run_dir.root.mkdir(parents=True, exist_ok=True)
        run_dir.metrics.write_text(json.dumps({"retrieval": section}))

    return run


@pytest.mark.slow
def test_a_tiny_dataset_runs_for_real_then_is_reused(tmp_path, tiny_bert_dir, capsys, monkeypatch):
    cfg = tiny_config(tmp_path, tiny_bert_dir)
    root = tmp_path / "bench"
    out = rel.relevance_benchmark({"tiny": cfg}, root=root)
    ds = out["datasets"]["tiny"]
    assert ds["status"] == "ran" and Path(ds["run_dir"]) == root / "tiny"
    run = RunDir(root / "tiny")
    assert run.metrics.exists() and run.retrieval_weights.with_suffix(".index").exists()
    assert load_config(run.config).stages == ["data", "retrieval", "evaluate"]
    rows = {(r["task"], r["slice"], r["model"], r["metric"]) for r in out["table"]}
    for model in ("popularity", "bm25", "zero_shot", "trained", "trained - zero_shot"):
        assert ("search", "all", model, "R@100") in rows, model
    assert ("feed", "all", "trained", "NDCG@10") in rows
    printed = capsys.readouterr().out
    assert "trained - zero_shot" in printed and "R@100" in printed and "tiny" in printed

    # the same config again: nothing runs, the figures are read back and the reuse is said
    monkeypatch.setattr(rel, "run_stages", lambda *a: pytest.fail("should have been reused"))
    again = rel.relevance_benchmark({"tiny": cfg}, root=root)
    assert again["datasets"]["tiny"]["status"] == "reused"
    assert again["table"] == out["table"]
    assert "tiny: reused" in capsys.readouterr().out


def test_reuse_needs_the_same_config_unless_retrain_is_asked(tmp_path, monkeypatch, capsys) -> None:
    calls: list[str] = []
    monkeypatch.setattr(rel, "run_stages", _fake_stages(calls))
    cfg = Config(name="a")
    root = tmp_path / "bench"
    assert rel.relevance_benchmark({"a": cfg}, root=root)["datasets"]["a"]["status"] == "ran"
    assert rel.relevance_benchmark({"a": cfg}, root=root)["datasets"]["a"]["status"] == "reused"
    assert len(calls) == 1
    # retrain asked: it runs again
    out = rel.relevance_benchmark({"a": cfg}, root=root, retrain={"a"})
    assert out["datasets"]["a"]["status"] == "ran" and len(calls) == 2
    # another config in the same folder: it runs again
    cfg.retrieval.epochs += 1
    assert rel.relevance_benchmark({"a": cfg}, root=root)["datasets"]["a"]["status"] == "ran"
    assert len(calls) == 3
    assert "the config changed" in capsys.readouterr().out
    # a section the stages do not read (ranking) does not void the reuse
    cfg.ranking.epochs += 1
    assert rel.relevance_benchmark({"a": cfg}, root=root)["datasets"]["a"]["status"] == "reused"
    assert len(calls) == 3
    assert calls[0] == str(root / "a")


def test_missing_data_is_skipped_and_a_failure_is_raised_after_the_others(
    tmp_path, monkeypatch, capsys
) -> None:
    calls: list[str] = []
    fake = _fake_stages(calls)

    def stages(cfg: Config, names: list[str]) -> None:
        if cfg.name == "broken":
            raise ValueError("no good")
        fake(cfg, names)

    monkeypatch.setattr(rel, "run_stages", stages)
    retail = load_config("configs/online_retail.yaml")
    retail.data.transactions.path = str(tmp_path / "absent.csv.gz")
    with pytest.raises(RuntimeError, match="broken"):
        rel.relevance_benchmark(
            {"online_retail": retail, "broken": Config(name="broken"), "ok": Config(name="ok")},
            root=tmp_path / "bench",
        )
    out = capsys.readouterr().out
    assert "online_retail: skipped, input not found" in out and "absent.csv.gz" in out
    assert "broken: FAILED ValueError: no good" in out
    assert "ok: ran" in out and "trained - zero_shot" in out  # the others still print


def test_config_changes_name_the_keys() -> None:
    old = rel.fingerprint_values(Config())
    cfg = Config()
    cfg.retrieval.epochs = 9
    cfg.data.synthetic.query_vocab_mismatch = 0.5
    changes = rel.config_changes(old, rel.fingerprint_values(cfg))
    assert changes == [
        "data.synthetic.query_vocab_mismatch: 0.0 -> 0.5",
        f"retrieval.epochs: {Config().retrieval.epochs} -> 9",
    ]


def test_a_key_added_since_at_its_default_is_no_change() -> None:
    old = rel.fingerprint_values(Config())
    del old["text"]["layer_cache"]  # a run recorded before the key existed
    new = rel.fingerprint_values(Config())
    defaults = rel.fingerprint_values(Config())
    assert rel.config_changes(old, new, defaults=defaults) == []
    cfg = Config()
    cfg.text.layer_cache = False  # not the default: the old run did not run that way
    changed = rel.config_changes(old, rel.fingerprint_values(cfg), defaults=defaults)
    assert changed == ["text.layer_cache: <absent> -> False"]


def test_dataset_selection_and_the_section_is_opt_in() -> None:
    assert rel.selected_datasets(None) == list(rel.RELEVANCE_DATASETS)
    assert rel.selected_datasets("hard_search,demo") == ["hard_search", "demo"]
    with pytest.raises(ValueError, match="unknown dataset.*nope.*known: demo"):
        rel.selected_datasets("demo,nope")
    assert rel._retrain_set("1", ["demo"]) == {"demo"}
    assert rel._retrain_set("", ["demo"]) == set()
    assert rel._retrain_set("demo,x", ["demo"]) == {"demo", "x"}
    assert "relevance" in SECTIONS and "relevance" in OPT_IN
    for path in rel.RELEVANCE_DATASETS.values():
        load_config(path)  # every preset loads


def test_table_reads_any_scorer_and_marks_missing_figures() -> None:
    m = {"recall@100": 0.4, "ndcg@10": 0.2}
    t = rel.relevance_table(
        {
            "x": {
                "search": {"slices": {"all": {"hybrid": m, "trained": m, "zero_shot": m}}},
                "feed": {"slices": {"unseen": {"co_occurrence": m}}},
                "comparisons": [{"task": "feed"}],
            },
            "y": {"feed": {"slices": {"unseen": {"co_occurrence": {**m, "recall@100": 0.9}}}}},
        }
    )
    models = list(t.loc["search"].index.get_level_values("model"))
    assert models == ["zero_shot", "trained", "hybrid", "trained - zero_shot"]
    assert t.loc[("search", "all", "trained - zero_shot"), ("x", "R@100")] == 0.0
    assert t.loc[("feed", "unseen", "co_occurrence"), ("y", "R@100")] == 0.9
    assert t[("y", "R@100")].isna().sum() == 4  # y has no search figures
