"""The Keras fit scripts in examples/ run end to end on a tiny synthetic shop with the tiny BERT
checkpoint (`--size tiny` through TFREC_EXAMPLE_SIZE), each as a user runs it: a subprocess.

Each prints `result: {json}` as its last line; the checks read it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def run_example(name: str, tmp_path: Path, bert_dir: Path) -> tuple[dict, str]:
    env = {
        **os.environ,
        "TFREC_EXAMPLE_SIZE": "tiny",
        "TFREC_EXAMPLE_BERT": str(bert_dir),
        "TFREC_EXAMPLE_DIR": str(tmp_path),
        "CUDA_VISIBLE_DEVICES": "",
    }
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("result: ")]
    assert lines, out[-4000:]
    return json.loads(lines[-1].removeprefix("result: ")), out


@pytest.mark.slow
def test_two_tower_retrieval(tmp_path, tiny_bert_dir):
    result, out = run_example("two_tower_retrieval.py", tmp_path, tiny_bert_dir)
    assert 0 <= result["val_recall_at_10"] <= 1
    assert result["loss"] > 0
    assert "search '" in out  # the top items of a held-out search were printed


@pytest.mark.slow
def test_dcn_ranker(tmp_path, tiny_bert_dir):
    result, out = run_example("dcn_ranker.py", tmp_path, tiny_bert_dir)
    assert 0 <= result["val_click_auc"] <= 1
    assert "impressions: train " in out


@pytest.mark.slow
def test_keras_tuner_search(tmp_path, tiny_bert_dir):
    result, out = run_example("keras_tuner_search.py", tmp_path, tiny_bert_dir)
    assert result["trials"] == 2
    assert set(result["best"]["values"]) == {"temperature", "learning_rate", "embedding_dim"}
    better = result["best"]["objective"] > result["default"]
    assert result["winner"] == ("trial" if better else "default")
    assert (tmp_path / "keras_tuner_search" / "search" / "two_tower" / "oracle.json").exists()


@pytest.mark.slow
def test_export_for_tf_serving(tmp_path, tiny_bert_dir):
    result, _ = run_example("export_for_tf_serving.py", tmp_path, tiny_bert_dir)
    for name in ("tfrec", "tfrec_scann"):
        assert (Path(result["paths"][name]) / "saved_model.pb").exists()
    assert len(result["top"]) == 3 and all(result["top"])
    assert (tmp_path / "export_for_tf_serving" / "run" / "export" / "models.config").exists()
