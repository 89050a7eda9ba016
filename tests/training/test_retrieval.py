"""The retrieval stage through the `tfrec` command: trains, saves, reloads, resumes a killed run."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.config import load_config
from tfrec.core.rundir import RunDir
from tfrec.data.datasets import retrieval_dataset
from tfrec.data.prepared import load_prepared
from tfrec.evaluation.validation import ValidationRecall
from tfrec.stages.artifacts import RunArtifacts
from tfrec.stages.data import run_data
from tfrec.stages.evaluate import run_evaluate
from tfrec.text.frozen import make_text_encoder
from tfrec.training.retrieval import (
    _build_variables,
    build_model_for_run,
    load_retrieval_model,
    train_retrieval,
)


@pytest.fixture(scope="module")
def shop_config(tmp_path_factory, tiny_bert_dir):
    """A config over the tiny shop written as files, with the tiny BERT as text backbone."""
    root = tmp_path_factory.mktemp("retrieval_run")
    items, events = make_shop(days=30, users=40, items=60)
    items.to_csv(root / "items.csv", index=False)
    events.to_parquet(root / "events.parquet", index=False)
    cfg = {
        "name": "tiny",
        "run_dir": str(root / "run"),
        "data": {
            "source": "files",
            "items": {"path": str(root / "items.csv")},
            "events": {"path": str(root / "events.parquet")},
            "split": {"test_days": 5, "val_days": 5},
        },
        "text": {
            "checkpoint": str(tiny_bert_dir),
            "max_length": 16,
            "cache_dir": str(root / "cache"),
        },
        "retrieval": {
            "embedding_dim": 16,
            "projection_layers": [32],
            "id_embedding_dim": 8,
            "batch_size": 8,
            "epochs": 2,
            "backup_every_steps": 3,
        },
        "training": {"verbose": 2},
    }
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def tfrec_cmd(*args):
    return [sys.executable, "-m", "tfrec.cli", *args]


def test_train_save_load_evaluate(shop_config):
    cfg = load_config(shop_config)
    subprocess.run(
        tfrec_cmd("run", str(shop_config), "--stages", "data"), check=True, capture_output=True
    )
    run = RunDir(cfg.run_path)
    data = load_prepared(cfg, run)
    model = train_retrieval(cfg, run, data, validation=[ValidationRecall(data, k=100)])
    again = load_retrieval_model(cfg, run, data)
    np.testing.assert_allclose(
        model.all_item_embeddings(), again.all_item_embeddings(), rtol=0, atol=0
    )
    assert (run.retrieval / "training.json").exists()
    assert list((run.retrieval / "logs").rglob("events.out.tfevents*")), "no TensorBoard logs"
    history = json.loads((run.retrieval / "training.json").read_text())["history"]
    assert "val_recall_at_100" in history  # early stopping watched the validation callback

    art = RunArtifacts(cfg, run)
    art.set_data(data)
    art.set_retrieval_model(again)
    metrics = run_evaluate(art)
    feed = metrics["retrieval"]["feed"]["slices"]["all"]
    assert set(feed) == {"popularity", "zero_shot", "cooccurrence", "trained"}
    assert metrics["retrieval"]["comparisons"]  # trained minus zero-shot per slice
    assert run.report_page("index").read_text().count("<table>") >= 1


def test_killed_training_resumes_mid_run(shop_config, tmp_path):
    cfg = load_config(shop_config)
    run_dir = tmp_path / "resume_run"
    overrides = [
        "--set",
        f"run_dir={run_dir}",
        "--set",
        "retrieval.epochs=40",
        "--set",
        "retrieval.early_stopping_patience=40",
    ]
    subprocess.run(
        tfrec_cmd("run", str(shop_config), "--stages", "data", *overrides),
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        tfrec_cmd("train", "retrieval", str(shop_config), *overrides),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    deadline = time.time() + 240
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("Epoch 3/") or time.time() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert any(line.startswith("Epoch 3/") for line in seen), "".join(seen[-20:])
    assert (run_dir / "retrieval" / "backup").exists()
    assert not (run_dir / "retrieval" / "model").exists()

    done = subprocess.run(
        tfrec_cmd(
            "train",
            "retrieval",
            str(shop_config),
            *overrides[:2],
            "--set",
            "retrieval.epochs=4",
            "--set",
            "retrieval.early_stopping_patience=40",
        ),
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (
        "resumed from backup: epoch 2" in done.stdout
        or "resumed from backup: epoch 3" in done.stdout
    ), done.stdout[-3000:]
    # it ran only the remaining epochs, not all of them again
    assert "Epoch 1/4" not in done.stdout
    assert (run_dir / "retrieval" / "model" / "weights.index").exists()
    del cfg


@pytest.mark.parametrize("share_backbone", [True, False])
def test_top_k_layers_mode_trains_only_the_top_bert_layer(shop_config, tmp_path, share_backbone):
    import tensorflow as tf

    cfg = load_config(shop_config)
    cfg.text.mode = "top_k_layers"
    cfg.text.trainable_layers = 1
    cfg.text.share_backbone = share_backbone
    run = RunDir(cfg.run_path)
    if not (run.clean / "items.parquet").exists():
        subprocess.run(
            tfrec_cmd("run", str(shop_config), "--stages", "data"), check=True, capture_output=True
        )
    data = load_prepared(cfg, run)
    model = build_model_for_run(cfg, data)
    ds = retrieval_dataset(data, "train", 8)
    _build_variables(model, ds)
    encoders = {
        id(model.text_encoder): model.text_encoder,
        id(model.item_text_encoder): model.item_text_encoder,
    }
    assert len(encoders) == (1 if share_backbone else 2)

    def layer_weights(enc, i):
        return [w.numpy().copy() for w in enc.bert.bert.encoder.layer[i].weights]

    enc = model.text_encoder
    before_top, before_bottom = layer_weights(enc, -1), layer_weights(enc, 0)
    for batch in ds.take(3):
        model.train_step(batch)
    after_top, after_bottom = layer_weights(enc, -1), layer_weights(enc, 0)
    assert any(not np.array_equal(a, b) for a, b in zip(before_top, after_top)), (
        "top layer did not train"
    )
    assert all(np.array_equal(a, b) for a, b in zip(before_bottom, after_bottom)), (
        "bottom layer changed"
    )
    assert tf.reduce_all(tf.math.is_finite(model.all_item_embeddings()))


def test_tokenized_batches_give_the_same_query_embeddings_as_raw_strings(shop_config):
    """Fine-tuned modes train on token ids made in tf.data (no strings on the device); they must
    embed queries exactly as the raw-string serving path does."""

    cfg = load_config(shop_config)
    cfg.text.mode = "top_k_layers"
    cfg.text.trainable_layers = 1
    run = RunDir(cfg.run_path)
    if not (run.clean / "items.parquet").exists():
        subprocess.run(
            tfrec_cmd("run", str(shop_config), "--stages", "data"), check=True, capture_output=True
        )
    data = load_prepared(cfg, run)
    model = build_model_for_run(cfg, data)
    raw = next(iter(retrieval_dataset(data, "train", 8, shuffle=False)))
    tokenized = next(
        iter(
            retrieval_dataset(
                data, "train", 8, shuffle=False, tokenizer=model.text_encoder.tokenizer
            )
        )
    )
    assert "query" not in tokenized and tokenized["query_input_ids"].dtype.name == "int32"
    np.testing.assert_allclose(
        model.query_embeddings(raw).numpy(), model.query_embeddings(tokenized).numpy(), atol=1e-5
    )
    assert all(v.dtype.name == "int32" for v in model.item_tokens.values())


def test_fine_tuned_mode_trains_end_to_end(shop_config, tmp_path):
    """`text.mode: full` through `train_retrieval`: tokenized batches, BERT weights change, the
    saved model reloads with identical item embeddings."""
    cfg = load_config(shop_config)
    cfg.text.mode = "full"
    cfg.retrieval.epochs = 1
    cfg.run_dir = str(tmp_path / "full")
    run = RunDir(cfg.run_path)
    art = RunArtifacts(cfg, run)
    run_data(art)
    data = art.data()
    model = train_retrieval(cfg, run, data)
    assert model.train_text and model.item_tokens is not None
    pretrained = make_text_encoder(cfg, mode="frozen")
    trained_w = model.text_encoder.bert.bert.encoder.layer[0].weights[0].numpy()
    assert not np.array_equal(trained_w, pretrained.bert.bert.encoder.layer[0].weights[0].numpy())
    again = load_retrieval_model(cfg, run, data)
    np.testing.assert_allclose(model.all_item_embeddings(), again.all_item_embeddings(), atol=1e-6)


def _prepared(shop_config, **text):
    cfg = load_config(shop_config)
    for key, value in text.items():
        setattr(cfg.text, key, value)
    run = RunDir(cfg.run_path)
    if not (run.clean / "items.parquet").exists():
        subprocess.run(
            tfrec_cmd("run", str(shop_config), "--stages", "data"), check=True, capture_output=True
        )
    return cfg, load_prepared(cfg, run)


def test_layer_cache_gives_the_uncached_loss_and_gradients(shop_config, tmp_path):
    """top_k_layers training through the frozen-layer caches computes what the live encoders
    compute on the token ids (loss, every gradient, item embeddings), trains only the top BERT
    layer, and the caches are in no checkpoint."""
    import tensorflow as tf

    from tfrec.training.retrieval import attach_layer_caches, uses_layer_cache

    cfg, data = _prepared(shop_config, mode="top_k_layers", trainable_layers=1)
    assert uses_layer_cache(cfg)
    model = build_model_for_run(cfg, data)
    ds = retrieval_dataset(data, "train", 8, shuffle=False, tokenizer=model.text_encoder.tokenizer)
    _build_variables(model, ds)
    batch = next(iter(ds))
    items = tf.range(len(data.catalog), dtype=tf.int64)

    def measure():
        with tf.GradientTape() as tape:
            loss = model.compute_loss(batch, training=False)
        grads = tape.gradient(loss, model.trainable_variables)
        return float(loss), grads, model.item_embeddings(items).numpy()

    loss, grads, item_emb = measure()
    attach_layer_caches(cfg, model, data)
    assert model.item_layer_cache.num_texts == len(data.catalog)
    assert model.query_layer_cache.num_texts == len(data.queries)
    cached_loss, cached_grads, cached_item_emb = measure()
    assert cached_loss == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(cached_item_emb, item_emb, atol=1e-5)
    bert = [v.name for v, g in zip(model.trainable_variables, cached_grads) if "bert" in v.name]
    assert bert and all("layer_._1/" in name for name in bert)
    for v, g, cg in zip(model.trainable_variables, grads, cached_grads):
        assert (g is None) == (cg is None), v.name
        if g is not None:
            np.testing.assert_allclose(
                tf.convert_to_tensor(cg), tf.convert_to_tensor(g), atol=1e-5, err_msg=v.name
            )
    model.save_weights(str(tmp_path / "weights"))
    saved = [name for name, _ in tf.train.list_variables(str(tmp_path / "weights"))]
    assert not any("frozen_states" in name for name in saved)
    cache_vars = {id(model.item_layer_cache.values), id(model.query_layer_cache.values)}
    assert not any(id(v) in cache_vars for v in model.variables)


def test_top_k_layers_training_with_the_cache_reloads_to_the_same_embeddings(
    shop_config, tmp_path, capsys
):
    """`train_retrieval` in top_k_layers mode fills the caches, trains, and frees them; the
    saved model, rebuilt with the full encoder on raw text, gives the same item embeddings."""
    cfg, _ = _prepared(shop_config)
    cfg.text.mode = "top_k_layers"
    cfg.text.trainable_layers = 1
    cfg.retrieval.epochs = 1
    cfg.run_dir = str(tmp_path / "topk")
    run = RunDir(cfg.run_path)
    art = RunArtifacts(cfg, run)
    run_data(art)
    data = art.data()
    model = train_retrieval(cfg, run, data)
    assert "frozen-layer cache of item texts" in capsys.readouterr().out
    assert model.item_layer_cache is None and model.query_layer_cache is None
    pretrained = make_text_encoder(cfg, mode="frozen")
    top = model.text_encoder.bert.bert.encoder.layer[1].weights[0].numpy()
    assert not np.array_equal(top, pretrained.bert.bert.encoder.layer[1].weights[0].numpy())
    again = load_retrieval_model(cfg, run, data)
    np.testing.assert_allclose(model.all_item_embeddings(), again.all_item_embeddings(), atol=1e-5)
    raw = next(iter(retrieval_dataset(data, "train", 8, shuffle=False)))
    np.testing.assert_allclose(
        model.query_embeddings(raw).numpy(), again.query_embeddings(raw).numpy(), atol=1e-5
    )
