"""After `import tfrec`, the whole pinned stack works together (ARCHITECTURE.md's traps)."""

import os

import tfrec  # noqa: F401  (must come first: sets TF_USE_LEGACY_KERAS)


def test_legacy_keras_is_set_before_tensorflow():
    assert os.environ["TF_USE_LEGACY_KERAS"] == "1"


def test_tf_keras_is_the_keras_in_use():
    import tensorflow as tf
    import tf_keras

    assert tf.keras.Model is tf_keras.Model
    assert tf_keras.__version__.startswith("2.20")


def test_tfrs_imports_and_uses_tf_keras():
    import tensorflow_recommenders as tfrs
    import tf_keras

    assert issubclass(tfrs.Model, tf_keras.Model)


def test_scann_tf_ops_load():
    import numpy as np
    from scann import scann_ops

    db = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    db /= np.linalg.norm(db, axis=1, keepdims=True)  # unit vectors: each is its own best match
    searcher = scann_ops.builder(db, 3, "dot_product").score_brute_force().build()
    idx, _ = searcher.search(db[0])
    assert int(idx.numpy()[0]) == 0


def test_packaged_minilm_checkpoint_is_found():
    from tfrec.text.backbone import resolve_checkpoint

    path = resolve_checkpoint("minilm")
    assert (path / "config.json").exists()
    assert (path / "vocab.txt").exists()
    assert (path / "model.safetensors").exists()


def test_transformers_has_tf_bert():
    from transformers import TFBertModel  # noqa: F401

    assert TFBertModel.__module__.startswith("transformers")
