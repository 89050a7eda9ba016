"""`index.kind: approx_max_k` end to end on CPU, on the tiny shop: the index stage builds it
(recall@10 >= 0.95 against exact on the run's queries), `tfrec index eval` measures it, the
export stage writes only the stock-ops `tfrec` model whose `retrieval` signature runs it (no
ScaNN model), the exported SavedModel loads with plain `tf.saved_model.load` in a fresh
interpreter that never imports ScaNN and returns the in-process items, and `tfrec serve` serves
it (TF Serving REST predict and /search)."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from serving_client import http
from tiny_run import make_tiny_run

from tfrec.config import save_config
from tfrec.export.retrieval import reference_top_k
from tfrec.export.versions import custom_op_types
from tfrec.index.device_index import DeviceIndex
from tfrec.index.for_run import index_for_run
from tfrec.index.kinds import load_item_index
from tfrec.serving.server import ServingApp
from tfrec.stages.artifacts import RunArtifacts
from tfrec.stages.export import run_export
from tfrec.stages.index import eval_index, run_index

QUERY = {
    "query": ["mug", "tent", ""],
    "user_id": ["u1", "", "nobody"],
    "recent_item_ids": [["i3", ""], ["", ""], ["i7", "i8"]],
}


@pytest.fixture(scope="module")
def device_run(tmp_path_factory, tiny_bert_dir):
    cfg, run, data, model, _ = make_tiny_run(tmp_path_factory.mktemp("device"), tiny_bert_dir)
    cfg.index.kind = "approx_max_k"
    cfg.index.target_recall = 0.95
    save_config(cfg, run.config)
    return cfg, run, data, model


@pytest.mark.slow
def test_approx_max_k_builds_evaluates_exports_and_serves(device_run, capsys):
    cfg, run, data, model = device_run
    art = RunArtifacts(cfg, run)
    art.set_data(data)
    art.set_retrieval_model(model)

    # build: recall@10 against exact on the run's own (held-out) queries
    index = run_index(art)
    assert isinstance(index, DeviceIndex) and index.params.mode == "approx_max_k"
    assert index.params.recall_at_10 >= 0.95
    printed = capsys.readouterr().out
    assert "[index] approx_max_k on CPU:0" in printed and "recall_target 0.95" in printed
    assert isinstance(index_for_run(cfg, run, data, model), DeviceIndex)  # reused
    assert f"[index] using {run.index}" in capsys.readouterr().out

    # evaluate: recall and queries/s against brute force
    res = eval_index(art)
    assert res["recall_at_10"] >= 0.95 and res["index_qps"] > 0
    assert "approx_max_k" in capsys.readouterr().out.strip().splitlines()[-1]

    # export: only the stock-ops model, whose retrieval signature searches the index
    out = run_export(art)
    assert set(out) == {"tfrec"}
    assert not run.export_model("tfrec_scann").exists()
    names = [
        line.split('"')[1] for line in run.models_config.read_text().splitlines() if "name:" in line
    ]
    assert names == ["tfrec"]
    version = out["tfrec"]
    info = json.loads((version / "assets.extra" / "tfrec.json").read_text())
    assert info["index"]["mode"] == "approx_max_k"
    # TF Text's three tokenizer ops are all stock TF Serving links beyond core TensorFlow
    assert custom_op_types(version) == [
        "NormalizeUTF8",
        "RegexSplitWithOffsets",
        "WordpieceTokenizeWithOffsets",
    ]
    printed = capsys.readouterr().out
    assert "exported top-10 equals pre-export on 4/4 warmup queries" in printed

    q = {key: np.array(v, dtype=object) for key, v in QUERY.items()}
    want = reference_top_k(model, data, load_item_index(run.index), q, 5, True)

    # the exported version in a fresh interpreter: plain tf.saved_model.load, no ScaNN
    script = textwrap.dedent(
        f"""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # the tokenizer's TF Text ops (linked by stock TF Serving)
        sm = tf.saved_model.load({str(version)!r})
        query = {QUERY!r}
        out = sm.signatures["retrieval"](
            **{{k: tf.constant(v) for k, v in query.items()}}, k=tf.constant(5)
        )
        print(json.dumps({{
            "ids": [[x.decode() for x in row] for row in out["item_ids"].numpy()],
            "default": sorted(sm.signatures["serving_default"].structured_outputs),
            "scann": any(m.startswith("scann") for m in sys.modules),
        }}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["scann"] is False
    assert got["ids"] == want
    assert got["default"] == ["item_ids", "scores"]

    # serve: TF Serving's REST predict on `tfrec` / `retrieval`, and the shop endpoints
    cfg.serving.poll_seconds = 0.2
    app = ServingApp(run.root, port=0, grpc_port=0, config=cfg.serving, run_config=cfg)
    app.start()
    try:
        status, body = http(
            app,
            "POST",
            "/v1/models/tfrec:predict",
            {"signature_name": "retrieval", "inputs": {**QUERY, "k": 5}},
        )
        assert status == 200, body
        assert body["outputs"]["item_ids"] == want
        status, body = http(app, "GET", "/search?q=mug&k=5")
        assert status == 200 and len(body["items"]) == 5
        status, body = http(
            app,
            "POST",
            "/v1/models/tfrec:predict",
            {"signature_name": "retrieval", "inputs": {**QUERY, "k": cfg.export.max_k + 1}},
        )
        assert status == 400 and f"k must be <= {cfg.export.max_k}" in body["error"]
    finally:
        app.stop()
