import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrec.text.encoder import TextEncoder

TEXTS = ["running shoes", "red heart mug", "", "vintage christmas candle holder set"]


@pytest.fixture(scope="module")
def tiny_encoder(tiny_bert_dir):
    return TextEncoder(str(tiny_bert_dir), max_length=8, pooling="mean")


def _tower(checkpoint, mode="frozen", seed=0):
    keras.utils.set_random_seed(seed)
    texts = keras.Input(shape=(1,), dtype=tf.string, name="text")
    encoder = TextEncoder(checkpoint, max_length=8, mode=mode, trainable_layers=1, name="enc")
    outputs = keras.layers.Dense(4, name="head")(encoder(texts))
    return keras.Model(texts, outputs)


def test_shape_pooling_and_normalize(tiny_bert_dir, tiny_encoder):
    out = tiny_encoder(tf.constant(TEXTS)).numpy()
    assert out.shape == (4, 32) and out.dtype == np.float32
    tokens = tiny_encoder.tokenizer(tf.constant(TEXTS))
    states = tiny_encoder.bert(**tokens).last_hidden_state.numpy()
    mask = tokens["attention_mask"].numpy()[..., None]
    np.testing.assert_allclose(out, (states * mask).sum(1) / mask.sum(1), atol=1e-5)

    cls = TextEncoder(str(tiny_bert_dir), max_length=8, pooling="cls")
    np.testing.assert_allclose(cls(tf.constant(TEXTS)).numpy(), states[:, 0], atol=1e-5)

    unit = TextEncoder(str(tiny_bert_dir), max_length=8, normalize=True)
    np.testing.assert_allclose(np.linalg.norm(unit(tf.constant(TEXTS)), axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_trimmed_padding_gives_the_same_embeddings(tiny_bert_dir, pooling):
    kwargs = {"max_length": 16, "pooling": pooling}
    trimmed = TextEncoder(str(tiny_bert_dir), trim_padding=True, **kwargs)
    padded = TextEncoder(str(tiny_bert_dir), trim_padding=False, **kwargs)
    texts = tf.constant(TEXTS)
    np.testing.assert_allclose(trimmed(texts).numpy(), padded(texts).numpy(), atol=1e-5)


def test_pre_tokenized_dict_input_from_tf_data(tiny_encoder):
    ds = tf.data.Dataset.from_tensor_slices(TEXTS).batch(2).map(tiny_encoder.tokenizer)
    from_tokens = np.concatenate([tiny_encoder(batch).numpy() for batch in ds])
    np.testing.assert_allclose(from_tokens, tiny_encoder(tf.constant(TEXTS)).numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="without attention_mask, token_type_ids"):
        tiny_encoder({"input_ids": tf.zeros([1, 8], tf.int32)})


def test_trainable_modes_and_dropout(tiny_bert_dir):
    frozen = TextEncoder(str(tiny_bert_dir), max_length=8, mode="frozen")
    assert frozen.trainable_weights == []
    texts = tf.constant(TEXTS)
    # Frozen BERT never runs dropout, even when the model around it trains.
    np.testing.assert_array_equal(frozen(texts, training=True), frozen(texts, training=False))

    top = TextEncoder(str(tiny_bert_dir), max_length=8, mode="top_k_layers", trainable_layers=1)
    names = [w.name for w in top.trainable_weights]
    assert names and all("layer_._1/" in n for n in names)
    tf.random.set_seed(0)
    assert not np.allclose(top(texts, training=True), top(texts, training=False))

    full = TextEncoder(str(tiny_bert_dir), max_length=8, mode="full")
    assert len(full.trainable_weights) == len([w for w in full.weights if "pooler" not in w.name])

    top.trainable = True  # a parent switching everything on...
    assert any("pooler" in w.name for w in top.trainable_weights)
    top.apply_trainable_mode()  # ...and the mode restored
    assert [w.name for w in top.trainable_weights] == names


def test_top_k_training_changes_only_the_top_layers(tiny_bert_dir):
    model = _tower(str(tiny_bert_dir), mode="top_k_layers")
    encoder = model.get_layer("enc")
    bottom = encoder.bert.bert.encoder.layer[0].weights[0].numpy().copy()
    top = encoder.bert.bert.encoder.layer[1].weights[0].numpy().copy()
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="mse")
    model.fit(tf.constant([[t] for t in TEXTS]), np.ones((4, 4), np.float32), epochs=1, verbose=0)
    np.testing.assert_array_equal(encoder.bert.bert.encoder.layer[0].weights[0].numpy(), bottom)
    assert not np.allclose(encoder.bert.bert.encoder.layer[1].weights[0].numpy(), top)


def test_config_round_trip(tiny_encoder):
    config = tiny_encoder.get_config()
    clone = TextEncoder.from_config(config)
    assert clone.get_config() == config
    np.testing.assert_allclose(
        clone(tf.constant(TEXTS)).numpy(), tiny_encoder(tf.constant(TEXTS)).numpy(), atol=1e-6
    )
    restored = keras.layers.deserialize(keras.layers.serialize(tiny_encoder))
    assert isinstance(restored, TextEncoder)
    with pytest.raises(ValueError, match="`mode` must be one of frozen, top_k_layers, full"):
        TextEncoder(config["checkpoint"], mode="half")


def test_with_tokenizer_shares_bert_and_gives_the_same_embeddings(tiny_bert_dir):
    encoder = TextEncoder(str(tiny_bert_dir), max_length=8)
    texts = tf.constant(TEXTS)
    encoder(texts)
    w = encoder.bert.weights[0]
    w.assign(w + 0.1)  # a weight the checkpoint does not have: the view must see it
    view = encoder.with_tokenizer("wordpiece")
    assert view.bert is encoder.bert and view.tokenizer.implementation == "wordpiece"
    assert view.get_config()["tokenizer_implementation"] == "wordpiece"
    np.testing.assert_allclose(view(texts).numpy(), encoder(texts).numpy(), atol=1e-6)
    assert encoder.tokenizer.implementation == "fast"  # the original is unchanged


def _perturb(model):
    """Move every BERT weight, so a restore that missed one is caught."""
    rng = np.random.default_rng(1)
    for w in model.get_layer("enc").weights:
        w.assign(w.numpy() + rng.normal(0, 0.05, w.shape).astype(w.dtype.as_numpy_dtype))


def test_save_weights_and_checkpoint_restore_into_a_fresh_model(tiny_bert_dir, tmp_path):
    texts = tf.constant([[t] for t in TEXTS])
    trained = _tower(str(tiny_bert_dir))
    _perturb(trained)
    expected = trained(texts).numpy()
    trained.save_weights(str(tmp_path / "weights" / "ckpt"))
    tf.train.Checkpoint(model=trained).write(str(tmp_path / "tfckpt" / "ckpt"))

    fresh = _tower(str(tiny_bert_dir))
    assert not np.allclose(fresh(texts).numpy(), expected)
    fresh.load_weights(str(tmp_path / "weights" / "ckpt")).assert_existing_objects_matched()
    np.testing.assert_array_equal(fresh(texts).numpy(), expected)

    other = _tower(str(tiny_bert_dir))
    tf.train.Checkpoint(model=other).read(
        str(tmp_path / "tfckpt" / "ckpt")
    ).assert_existing_objects_matched()
    np.testing.assert_array_equal(other(texts).numpy(), expected)


def test_saved_model_with_string_signature(tiny_bert_dir, tmp_path):
    encoder = TextEncoder(str(tiny_bert_dir), max_length=8, normalize=True)
    module = tf.Module()
    module.encoder = encoder
    module.serve = tf.function(
        lambda texts: {"embedding": encoder(texts, training=False)},
        input_signature=[tf.TensorSpec([None], tf.string, name="texts")],
    )
    texts = tf.constant(TEXTS)
    # The same graph before and after saving: identical numbers (eager differs by float noise).
    expected = module.serve(texts)["embedding"].numpy()
    np.testing.assert_allclose(expected, encoder(texts).numpy(), atol=1e-6)
    path = str(tmp_path / "saved")
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    loaded = tf.saved_model.load(path)
    np.testing.assert_array_equal(loaded.serve(texts)["embedding"].numpy(), expected)
    served = loaded.signatures["serving_default"](texts=texts)["embedding"].numpy()
    np.testing.assert_array_equal(served, expected)


def test_encode_texts_batches_match_one_call(tiny_encoder):
    texts = TEXTS * 3
    batched = tiny_encoder.encode_texts(texts, batch_size=5, progress=False)
    np.testing.assert_allclose(batched, tiny_encoder(tf.constant(texts)).numpy(), atol=1e-5)
    assert tiny_encoder.encode_texts([], batch_size=5).shape == (0, 32)
    with pytest.raises(TypeError, match=r"texts\[1\] is NoneType"):
        tiny_encoder.encode_texts(["a", None])
    with pytest.raises(ValueError, match="batch_size"):
        tiny_encoder.encode_texts(["a"], batch_size=0)


@pytest.mark.integration
def test_minilm_similarity_sanity(minilm_dir):
    encoder = TextEncoder("minilm", max_length=32, pooling="mean", normalize=True)
    shoes, sneakers, pan = encoder.encode_texts(
        ["running shoes", "sneakers", "frying pan"], progress=False
    )
    near, far = float(shoes @ sneakers), float(shoes @ pan)
    print(
        f"MiniLM cosine(running shoes, sneakers)={near:.3f} (running shoes, frying pan)={far:.3f}"
    )
    assert near > far + 0.1
    # Running BERT only up to the longest text changes nothing but float noise.
    padded = TextEncoder("minilm", max_length=32, normalize=True, trim_padding=False)
    texts = ["running shoes", "sneakers", "WHITE HANGING HEART T-LIGHT HOLDER", ""]
    np.testing.assert_allclose(
        encoder.encode_texts(texts, progress=False),
        padded.encode_texts(texts, progress=False),
        atol=1e-5,
    )
