"""FrozenLayerCache: the frozen bottom of a top_k_layers BERT run once per text gives the
encoder's own embeddings and gradients, and only the top layers train through it."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrec.text.encoder import TextEncoder
from tfrec.text.layer_cache import FrozenLayerCache

TEXTS = [
    "",
    "running shoes",
    "red heart mug",
    "vintage christmas candle holder set with glass lantern and white metal box",
    "a",
    "blue coffee cup",
]
ROWS = [3, 1, 0, 4, 2, 3, 5]


@pytest.fixture(scope="module")
def three_layer_bert(tmp_path_factory, make_tiny_bert):
    return make_tiny_bert(tmp_path_factory.mktemp("bert3"), layers=3, seed=1)


def _encoder(path, trainable_layers=1, **kwargs):
    return TextEncoder(
        str(path), max_length=12, mode="top_k_layers", trainable_layers=trainable_layers, **kwargs
    )


def _hf_mean_pooled(encoder, texts):
    """The reference: transformers' own TFBertModel call, then masked mean pooling."""
    tokens = encoder.tokenizer(tf.constant(texts))
    states = encoder.bert(**tokens, training=False).last_hidden_state.numpy()
    mask = tokens["attention_mask"].numpy()[..., None]
    return (states * mask).sum(1) / mask.sum(1)


@pytest.mark.parametrize("trainable_layers", [1, 2])
def test_cached_path_equals_the_full_encoder(three_layer_bert, trainable_layers):
    encoder = _encoder(three_layer_bert, trainable_layers)
    assert encoder.frozen_layers == 3 - trainable_layers
    cache = FrozenLayerCache(encoder, TEXTS, batch_size=2, progress=False)
    texts = [TEXTS[r] for r in ROWS]
    cached = cache(tf.constant(ROWS), training=False).numpy()
    full = encoder(tf.constant(texts), training=False).numpy()
    np.testing.assert_allclose(cached, full, atol=2e-6)
    np.testing.assert_allclose(full, _hf_mean_pooled(encoder, texts), atol=2e-6)
    # only real tokens are stored: [CLS] text [SEP], no padding
    lengths = encoder.tokenizer(tf.constant(TEXTS))["attention_mask"].numpy().sum(1)
    assert cache.num_tokens == lengths.sum() and cache.num_texts == len(TEXTS)
    assert cache.nbytes == lengths.sum() * 32 * 4 + (len(TEXTS) + 1) * 8


def test_float16_storage_halves_memory_within_half_precision(three_layer_bert):
    encoder = _encoder(three_layer_bert)
    full32 = FrozenLayerCache(encoder, TEXTS, progress=False)
    half = FrozenLayerCache(encoder, TEXTS, dtype="float16", progress=False)
    assert half.values.dtype == tf.float16
    assert half.nbytes - half.row_splits.shape[0] * 8 == (full32.nbytes - 7 * 8) // 2
    rows = tf.constant(ROWS)
    diff = np.abs(half(rows).numpy() - full32(rows).numpy())
    assert 0 < diff.max() < 5e-3


def test_padded_batches_without_trimming(three_layer_bert):
    encoder = _encoder(three_layer_bert, trim_padding=False)
    cache = FrozenLayerCache(encoder, TEXTS, progress=False)
    texts = [TEXTS[r] for r in ROWS]
    np.testing.assert_allclose(
        cache(tf.constant(ROWS)).numpy(), encoder(tf.constant(texts)).numpy(), atol=2e-6
    )


def test_frozen_bottom_runs_without_dropout_in_training(three_layer_bert):
    """In top_k_layers mode the frozen embeddings and lower layers run in inference mode even
    when training (so their states can be cached); only the top layer applies dropout: with
    the same seed, training through the cache draws the same dropout masks as the encoder."""
    encoder = _encoder(three_layer_bert)
    cache = FrozenLayerCache(encoder, TEXTS, progress=False)
    texts = tf.constant([TEXTS[r] for r in ROWS])
    tf.random.set_seed(1)
    first, second = encoder(texts, training=True), encoder(texts, training=True)
    assert not np.allclose(first, second)  # the top layer's dropout is on
    tf.random.set_seed(1)
    np.testing.assert_allclose(cache(tf.constant(ROWS), training=True), first, atol=2e-6)
    tf.random.set_seed(1)
    states = encoder.frozen_states(texts)
    np.testing.assert_allclose(
        encoder.encode_frozen_states(**states, training=True), first, atol=2e-6
    )


def test_gradients_reach_only_the_top_layers_and_match_the_full_path(three_layer_bert):
    encoder = _encoder(three_layer_bert)
    cache = FrozenLayerCache(encoder, TEXTS, progress=False)
    target = tf.random.stateless_normal([len(ROWS), 32], seed=[0, 1])
    texts = tf.constant([TEXTS[r] for r in ROWS])

    def gradients(embed):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(embed() - target))
        return tape.gradient(loss, encoder.trainable_weights)

    cached = gradients(lambda: cache(tf.constant(ROWS), training=False))
    full = gradients(lambda: encoder(texts, training=False))
    names = [w.name for w in encoder.trainable_weights]
    assert names and all("layer_._2/" in n for n in names)
    assert all(g is not None for g in cached)
    for name, g_cached, g_full in zip(names, cached, full):
        np.testing.assert_allclose(g_cached, g_full, atol=1e-5, err_msg=name)
    # no variable of the cache is trained or saved with the encoder
    assert not any(v is cache.values or v is cache.row_splits for v in encoder.weights)
    assert not cache.values.trainable


def test_training_through_the_cache_changes_only_the_top_layer(three_layer_bert):
    encoder = _encoder(three_layer_bert)
    cache = FrozenLayerCache(encoder, TEXTS, progress=False)
    layers = encoder.bert.bert.encoder.layer
    before = [[w.numpy().copy() for w in layer.weights] for layer in layers]
    embeddings = [w.numpy().copy() for w in encoder.bert.bert.embeddings.weights]
    optimizer = keras.optimizers.SGD(0.5)
    for _ in range(2):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(cache(tf.constant(ROWS), training=True))
        grads = tape.gradient(loss, encoder.trainable_weights)
        optimizer.apply_gradients(zip(grads, encoder.trainable_weights))
    after = [[w.numpy() for w in layer.weights] for layer in layers]
    for i in (0, 1):
        assert all(np.array_equal(a, b) for a, b in zip(before[i], after[i])), f"layer {i} moved"
    assert not all(np.array_equal(a, b) for a, b in zip(before[2], after[2]))
    for a, b in zip(embeddings, encoder.bert.bert.embeddings.weights):
        np.testing.assert_array_equal(a, b.numpy())
    # the cached path still equals the encoder after the top layer changed
    texts = tf.constant([TEXTS[r] for r in ROWS])
    np.testing.assert_allclose(cache(tf.constant(ROWS)).numpy(), encoder(texts).numpy(), atol=2e-6)


def test_bad_arguments_are_named(three_layer_bert):
    encoder = _encoder(three_layer_bert)
    with pytest.raises(ValueError, match="`dtype` must be one of float32, float16"):
        FrozenLayerCache(encoder, TEXTS, dtype="int8")
    with pytest.raises(TypeError, match=r"texts\[1\] is int: 7"):
        FrozenLayerCache(encoder, ["a", 7], progress=False)
    with pytest.raises(ValueError, match="needs at least one text"):
        FrozenLayerCache(encoder, [], name="queries")
    full = TextEncoder(str(three_layer_bert), max_length=12, mode="full")
    with pytest.raises(ValueError, match="mode 'full', where the embeddings train"):
        FrozenLayerCache(full, TEXTS)
    with pytest.raises(ValueError, match="mode `full` trains BERT's embeddings"):
        full.frozen_states(tf.constant(TEXTS))
