import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrec.text.pooling import Pooling


def _states():
    rng = np.random.default_rng(0)
    hidden = rng.standard_normal((2, 4, 3)).astype(np.float32)
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], np.int32)
    return hidden, mask


def test_mean_ignores_padding():
    hidden, mask = _states()
    pooled = Pooling("mean")(tf.constant(hidden), tf.constant(mask)).numpy()
    np.testing.assert_allclose(pooled[0], hidden[0, :2].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(pooled[1], hidden[1].mean(axis=0), rtol=1e-6)
    # Changing a padded state changes nothing.
    hidden[0, 3] += 100.0
    again = Pooling("mean")(tf.constant(hidden), tf.constant(mask)).numpy()
    np.testing.assert_allclose(again, pooled, rtol=1e-6)


def test_cls_takes_the_first_token():
    hidden, mask = _states()
    pooled = Pooling("cls")(tf.constant(hidden), tf.constant(mask)).numpy()
    np.testing.assert_array_equal(pooled, hidden[:, 0])


def test_all_padding_gives_zeros_not_nan():
    pooled = Pooling("mean")(tf.ones([1, 3, 2]), tf.zeros([1, 3], tf.int32)).numpy()
    np.testing.assert_array_equal(pooled, np.zeros((1, 2), np.float32))


def test_bad_mode_and_config_round_trip():
    with pytest.raises(ValueError, match=r"`mode` must be one of mean, cls. Received: mode='max'"):
        Pooling("max")
    layer = Pooling("cls", name="p")
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert isinstance(clone, Pooling) and clone.get_config() == layer.get_config()
