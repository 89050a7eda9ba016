"""RunDir owns every path of a run; metrics.json merges the sections of the stages."""

import json
from pathlib import Path

import pytest

from tfrec.core.rundir import RunDir


def test_layout_of_a_run_directory(tmp_path):
    run = RunDir(tmp_path / "r")
    rel = {
        name: getattr(run, name).relative_to(run.root).as_posix()
        for name in (
            "config",
            "clean",
            "raw",
            "data_report",
            "retrieval_weights",
            "item_embeddings",
            "ranker",
            "ranking_baseline",
            "tuning",
            "index",
            "added_items",
            "export",
            "models_config",
            "metrics",
            "report",
        )
    }
    # the layout runs written before the package's layout change still have
    assert rel == {
        "config": "config.yaml",
        "clean": "data/clean",
        "raw": "data/raw",
        "data_report": "data/report.json",
        "retrieval_weights": "retrieval/model/weights",
        "item_embeddings": "retrieval/item_embeddings.npy",
        "ranker": "ranking/model",
        "ranking_baseline": "ranking/baseline",
        "tuning": "tuning",
        "index": "index",
        "added_items": "index/added_items.parquet",
        "export": "export",
        "models_config": "export/models.config",
        "metrics": "metrics.json",
        "report": "report",
    }
    assert run.clean_table("events") == run.root / "data" / "clean" / "events.parquet"
    assert run.export_model("tfrec") == run.root / "export" / "tfrec"
    assert run.report_page("shop") == run.root / "report" / "shop.html"
    assert RunDir("runs/x").root == Path("runs/x")


def test_unknown_table_is_named(tmp_path):
    with pytest.raises(ValueError, match="unknown table 'orders'"):
        RunDir(tmp_path).clean_table("orders")


def test_save_metrics_merges_sections(tmp_path):
    run = RunDir(tmp_path / "r")
    run.save_metrics({"retrieval": {"a": 1}})
    run.save_metrics({"ranking": {"b": 2.5}})
    run.save_metrics({"retrieval": {"a": 3}})
    assert json.loads(run.metrics.read_text()) == {"retrieval": {"a": 3}, "ranking": {"b": 2.5}}
