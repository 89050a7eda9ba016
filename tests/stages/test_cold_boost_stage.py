"""`tfrec train retrieval --cold-boost-only`: the boost of a trained run, chosen or set again
without training, saved with the weights and item embeddings."""

import json
import subprocess
import sys

import numpy as np
import pytest

import tfrec  # noqa: F401
from tfrec.config import save_config
from tfrec.stages.artifacts import RunArtifacts
from tfrec.stages.retrieval import rechoose_cold_boost
from tfrec.training.retrieval import load_retrieval_model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_bert_dir):
    from tiny_run import make_tiny_run

    return make_tiny_run(tmp_path_factory.mktemp("boost-run"), tiny_bert_dir)


def test_a_set_boost_is_saved_with_the_weights_and_embeddings(tiny):
    cfg, run, data, model, _ = tiny
    cfg.retrieval.cold_boost = 0.25
    try:
        rechoose_cold_boost(RunArtifacts(cfg, run))
    finally:
        cfg.retrieval.cold_boost = None
    loaded = load_retrieval_model(cfg, run, data)
    assert float(loaded.item_tower.cold_boost.numpy()) == pytest.approx(0.25)
    saved = np.load(run.item_embeddings)
    np.testing.assert_allclose(saved, loaded.all_item_embeddings(), atol=1e-6)
    assert json.loads(run.retrieval_training_summary.read_text())["cold_boost"] == 0.25


def test_the_cli_chooses_it_on_validation(tiny, tmp_path):
    cfg, run, *_ = tiny
    path = tmp_path / "config.yaml"
    save_config(cfg, path)
    out = subprocess.run(
        [sys.executable, "-m", "tfrec.cli", "train", "retrieval", str(path), "--cold-boost-only"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "cold boost on validation" in out.stdout and "saved in" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "tfrec.cli", "train", "ranking", str(path), "--cold-boost-only"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "goes with `tfrec train retrieval`" in bad.stderr
