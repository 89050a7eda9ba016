"""The retrieval towers: output shape and norm, and the Keras config round trip (`get_config` ->
`from_config`, and serialization by registered name) giving a layer with the same config that
computes the same embeddings once given the same weights."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

import tfrec  # noqa: F401
from tfrec.models.towers import ItemTower, QueryTower


def _item_inputs(b: int = 3) -> dict:
    rng = np.random.default_rng(0)
    return {
        "text_embedding": tf.constant(rng.normal(size=(b, 16)), tf.float32),
        "category": tf.constant([[1, 2, 0]] * b, tf.int64),
        "brand": tf.constant([1] * b, tf.int64),
        "price_bucket": tf.constant([2] * b, tf.int64),
        "extra_categorical": tf.constant([[1]] * b, tf.int64),
        "extra_numeric": tf.constant(rng.normal(size=(b, 2)), tf.float32),
    }


def _query_inputs(b: int = 3) -> dict:
    rng = np.random.default_rng(1)
    return {
        "text_embedding": tf.constant(rng.normal(size=(b, 16)), tf.float32),
        "has_query": tf.constant([1.0, 0.0, 1.0][:b]),
        "user_idx": tf.constant([0, 2, 5][:b], tf.int64),
        "history_embedding": tf.constant(rng.normal(size=(b, 4, 8)), tf.float32),
        "history_mask": tf.constant([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]][:b], tf.float32),
    }


TOWERS = {
    "item": (
        lambda: ItemTower(
            8,
            [12],
            category_vocab_sizes=[3, 4, 5],
            brand_vocab_size=4,
            num_price_buckets=5,
            feature_dim=6,
            text_dropout=0.2,
            extra_categorical_vocab_sizes=[3],
            num_numeric_features=2,
            name="item_tower",
        ),
        _item_inputs,
    ),
    "query": (
        lambda: QueryTower(
            8,
            [12],
            user_vocab_size=6,
            id_embedding_dim=4,
            use_user_id=True,
            use_history=True,
            user_dropout=0.3,
            name="query_tower",
        ),
        _query_inputs,
    ),
}


@pytest.mark.parametrize("kind", sorted(TOWERS))
def test_outputs_are_unit_vectors(kind):
    make, inputs = TOWERS[kind]
    out = make()(inputs()).numpy()
    assert out.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("kind", sorted(TOWERS))
def test_get_config_round_trip(kind):
    make, inputs = TOWERS[kind]
    tower = make()
    x = inputs()
    want = tower(x).numpy()
    config = tower.get_config()
    again = type(tower).from_config(config)
    assert again.get_config() == config
    again(x)  # build
    again.set_weights(tower.get_weights())
    np.testing.assert_allclose(again(x).numpy(), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(TOWERS))
def test_serialized_by_registered_name(kind):
    make, _ = TOWERS[kind]
    tower = make()
    blob = keras.utils.serialize_keras_object(tower)
    assert blob["registered_name"] == f"tfrec>{type(tower).__name__}"
    again = keras.utils.deserialize_keras_object(blob)
    assert type(again) is type(tower)
    assert again.get_config() == tower.get_config()
