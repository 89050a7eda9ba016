"""The listwise loss (by hand on a 3-item list, padding, graded gains) and the listwise ranker
(scores, padding, training lowers the loss, get_config round trip, a missing input named)."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrec.models.listwise import ListwiseRanker, ListwiseSoftmaxLoss


def test_loss_by_hand_on_a_three_item_list():
    scores = [1.0, 2.0, 0.0]
    relevance = [2.0, 0.0, 1.0]
    logsumexp = math.log(sum(math.exp(s) for s in scores))
    # target = gains / sum(gains) = [2/3, 0, 1/3]
    expected = -(2 / 3 * (scores[0] - logsumexp) + 1 / 3 * (scores[2] - logsumexp))
    got = float(ListwiseSoftmaxLoss()([relevance], [scores]))
    assert got == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(1.7409, abs=1e-4)


def test_padding_is_left_out_and_lists_are_averaged():
    loss = ListwiseSoftmaxLoss()
    short = float(loss([[2.0, 0.0, 1.0]], [[1.0, 2.0, 0.0]]))
    padded = float(loss([[2.0, 0.0, 1.0, -1.0, -1.0]], [[1.0, 2.0, 0.0, 50.0, -3.0]]))
    assert padded == pytest.approx(short, rel=1e-6)
    # two lists: the mean of each list's loss
    other = float(loss([[1.0, 0.0]], [[0.0, 0.0]]))
    both = float(loss([[2.0, 0.0, 1.0], [1.0, 0.0, -1.0]], [[1.0, 2.0, 0.0], [0.0, 0.0, 7.0]]))
    assert both == pytest.approx((short + other) / 2, rel=1e-6)


def test_loss_prefers_the_right_order():
    loss = ListwiseSoftmaxLoss()
    rel = [[3.0, 1.0, 0.0]]
    assert float(loss(rel, [[3.0, 1.0, 0.0]])) < float(loss(rel, [[0.0, 1.0, 3.0]]))


def _inputs(rng, b=4, n=6, d=8, f=2):
    return {
        "query_embedding": rng.normal(size=(b, d)).astype("float32"),
        "item_embedding": rng.normal(size=(b, n, d)).astype("float32"),
        "category": rng.integers(0, 3, size=(b, n, 3)),
        "brand": rng.integers(0, 4, size=(b, n)),
        "price_bucket": rng.integers(0, 5, size=(b, n)),
        "list_features": rng.normal(size=(b, n, f)).astype("float32"),
        "mask": np.ones((b, n), "float32"),
    }


def _model(**kw):
    return ListwiseRanker(
        [3, 3, 3],
        4,
        5,
        list_feature_names=["a", "b"],
        feature_dim=4,
        hidden_layers=[16],
        learning_rate=0.01,
        **kw,
    )


def test_scores_padding_and_training():
    rng = np.random.default_rng(0)
    x = _inputs(rng, b=32)
    x["mask"][:, -2:] = 0
    # relevant: the items whose first list feature is highest (a learnable rule)
    y = (x["list_features"][..., 0] > 0.5).astype("float32") * 2
    y[:, 0] = 1.0
    y[:, -2:] = -1.0
    tf.keras.utils.set_random_seed(0)
    model = _model()
    scores = model(x).numpy()
    assert scores.shape == (32, 6) and (scores[:, -2:] < -1e8).all()
    model.compile_default()
    hist = model.fit(x, y, batch_size=8, epochs=15, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0] * 0.9


def test_get_config_round_trip_and_registered_name():
    rng = np.random.default_rng(1)
    model = _model(name="listwise")
    x = _inputs(rng)
    before = model(x).numpy()
    blob = keras.utils.serialize_keras_object(model)
    assert blob["registered_name"] == "tfrec>ListwiseRanker"
    again = ListwiseRanker.from_config(model.get_config())
    assert again.get_config() == model.get_config()
    again(x)
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again(x).numpy(), before, rtol=1e-5)
    loss = keras.utils.deserialize_keras_object(
        keras.utils.serialize_keras_object(ListwiseSoftmaxLoss())
    )
    assert isinstance(loss, ListwiseSoftmaxLoss)


def test_missing_input_is_named():
    x = _inputs(np.random.default_rng(2))
    del x["mask"]
    with pytest.raises(ValueError, match="missing: mask"):
        _model()(x)
