"""The TPU code path checked on CPU: with `training.jit_compile` (and under the tpu strategy,
`training.static_shapes`) text is padded to a fixed `max_length` (no `trim_padding`), training
batches drop their remainder, no string reaches the device (queries are ids or host-made token
ids), and `steps_per_execution` > 1. One epoch of the retrieval model and of the DCN ranker runs
under `tf.distribute.OneDeviceStrategy` on the CPU with `compile(jit_compile=True)`: XLA must
compile the train step (it raises, never falls back, when an op cannot be compiled), and the
step's HLO module, the graph XLA hands a TPU backend, is read back with
`experimental_get_compiler_ir`.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from tiny_ranking import builder, data, frame_inputs, shop, small_ranker  # noqa: F401
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.config import Config, SplitConfig, TrainingConfig
from tfrec.core.distribute import check_static_inputs, static_input_problems
from tfrec.data.datasets import retrieval_dataset
from tfrec.data.prepared import prepare_data
from tfrec.models.ranking_features import make_dataset
from tfrec.text.frozen import make_text_encoder
from tfrec.training.retrieval import build_model_for_run, uses_layer_cache


def _tpu_like_config(tmp_path, bert) -> Config:
    cfg = Config(name="tpu_ready", run_dir=str(tmp_path / "run"))
    cfg.text.checkpoint = str(bert)
    cfg.text.cache_dir = str(tmp_path / "cache")
    cfg.text.max_length = 16
    cfg.retrieval.embedding_dim = 16
    cfg.retrieval.projection_layers = [16]
    cfg.retrieval.id_embedding_dim = 8
    cfg.training.jit_compile = True
    cfg.training.steps_per_execution = 2
    cfg.data.split = SplitConfig(test_days=5, val_days=5)
    return cfg


def _compiled_hlo(strategy, step_fn, batch) -> str:
    """The HLO module XLA compiles for `step_fn(batch)` in the strategy's replica context."""
    step = tf.function(step_fn, jit_compile=True)
    return strategy.run(lambda b: step.experimental_get_compiler_ir(b)(stage="hlo"), (batch,))


def test_static_shapes_follow_the_tpu_strategy_and_jit_compile():
    assert not TrainingConfig().static_shapes
    assert TrainingConfig(strategy="tpu").static_shapes
    assert TrainingConfig(jit_compile=True).static_shapes
    cfg = Config()
    cfg.training.jit_compile = True
    cfg.text.mode = "top_k_layers"
    assert not uses_layer_cache(cfg)  # a ragged table: not under XLA


def test_static_input_problems_name_strings_and_unknown_sizes():
    spec = (
        {"query": tf.TensorSpec([8], tf.string), "ids": tf.TensorSpec([None], tf.int64)},
        {"click": tf.TensorSpec([8], tf.float32)},
    )
    assert static_input_problems(spec) == [
        "features/query: a string tensor (strings cannot go to the device)",
        "features/ids: shape (None,) is not static",
    ]
    with pytest.raises(ValueError, match="retrieval batches are not TPU/XLA-ready.*features/ids"):
        check_static_inputs(
            tf.data.Dataset.from_tensors(({"ids": [1]}, {})).unbatch().batch(2), "retrieval batches"
        )


def test_host_tokenized_queries_keep_static_shapes(tmp_path, tiny_bert_dir):
    cfg = _tpu_like_config(tmp_path, tiny_bert_dir)
    prepared = prepare_data(*make_shop(users=80, items=60), cfg.data.split)
    encoder = make_text_encoder(cfg, mode="top_k_layers")
    assert encoder.trim_padding is False
    with_strings = retrieval_dataset(prepared, "train", 16)
    assert "query: a string tensor (strings cannot go to the device)" in static_input_problems(
        with_strings.element_spec
    )
    tokens = retrieval_dataset(prepared, "train", 16, tokenizer=encoder.tokenizer)
    assert static_input_problems(tokens.element_spec) == []
    assert tokens.element_spec["query_input_ids"].shape.as_list() == [16, 16]


def test_retrieval_epoch_compiles_with_xla_on_one_device(tmp_path, tiny_bert_dir):
    cfg = _tpu_like_config(tmp_path, tiny_bert_dir)
    prepared = prepare_data(*make_shop(users=80, items=60), cfg.data.split)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    model = build_model_for_run(cfg, prepared, strategy)
    assert model.jit_compile is True  # compile kept it: no fallback on this platform
    train = retrieval_dataset(prepared, "train", 16, include_text=False)
    check_static_inputs(train, "retrieval training batches")
    batch = next(iter(train))
    with strategy.scope():
        model.compute_loss(batch, training=False)
        model.optimizer.build(model.trainable_variables)
    steps = sum(1 for _ in train)
    history = model.fit(train, epochs=1, verbose=0)
    assert history.params["steps"] == steps and steps % cfg.training.steps_per_execution == 1
    assert np.isfinite(history.history["loss"][0])
    assert int(model.optimizer.iterations) == steps  # the last, partial execution ran too

    hlo = _compiled_hlo(strategy, model.train_step, batch)
    assert hlo.startswith("HloModule")
    # the in-batch softmax over the 16 x 16 scores is in the compiled module, at static shapes
    assert "f32[16,16]" in hlo


def test_ranker_epoch_compiles_with_xla_on_one_device(builder):  # noqa: F811
    _, feats, labels = frame_inputs(builder)
    train = make_dataset(feats, labels, 64, True, 0, drop_remainder=True)
    check_static_inputs(train, "ranking training batches")
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        model = small_ranker(builder)
        model.compile_default(steps_per_execution=2, jit_compile=True)
    assert model.jit_compile is True
    history = model.fit(train, epochs=1, verbose=0)
    assert history.params["steps"] == len(labels["click"]) // 64
    assert np.isfinite(history.history["loss"][0])
    hlo = _compiled_hlo(strategy, model.train_step, next(iter(train)))
    assert hlo.startswith("HloModule") and "f32[64," in hlo


def test_fine_tuned_bert_step_lowers_to_one_xla_module(tmp_path, tiny_bert_dir):
    """`top_k_layers`, the mode a TPU is rented for: queries tokenized on the host, item token
    ids gathered from integer tables, BERT padded to `max_length`; the whole train step lowers
    to one HLO module (compiling it for the CPU is left out: minutes on 2 cores)."""
    cfg = _tpu_like_config(tmp_path, tiny_bert_dir)
    cfg.text.mode = "top_k_layers"
    cfg.text.trainable_layers = 1
    prepared = prepare_data(*make_shop(users=80, items=60), cfg.data.split)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    model = build_model_for_run(cfg, prepared, strategy)
    assert model.jit_compile is True and model.text_encoder.trim_padding is False
    train = retrieval_dataset(prepared, "train", 16, tokenizer=model.text_encoder.tokenizer)
    check_static_inputs(train, "retrieval training batches")
    batch = next(iter(train))
    with strategy.scope():
        model.compute_loss(batch, training=False)
        model.optimizer.build(model.trainable_variables)
    hlo = _compiled_hlo(strategy, model.train_step, batch)
    assert hlo.startswith("HloModule")
    # the query tokens enter the module at their static [batch, max_length] shape
    assert "s32[16,16]" in hlo
