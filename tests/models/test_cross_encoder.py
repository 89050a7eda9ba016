"""The cross-encoder (tiny BERT): pair tokens ([CLS] query [SEP] title [SEP], token types),
scores of [B, L] lists, lower layers frozen, training lowers the listwise loss, get_config
round trip, bad arguments and inputs named."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrec.models.cross_encoder import CrossEncoder
from tfrec.text.tokenizer import read_vocab


@pytest.fixture(scope="module")
def model(tiny_bert_dir):
    tf.keras.utils.set_random_seed(0)
    return CrossEncoder(
        str(tiny_bert_dir),
        max_length=12,
        query_length=5,
        trainable_layers=1,
        learning_rate=1e-3,
        name="cross_encoder",
    )


def test_pair_tokens(model, tiny_bert_dir):
    vocab = {t: i for i, t in enumerate(read_vocab(tiny_bert_dir / "vocab.txt"))}
    tokens = model.pair_tokens(
        tf.constant(["red mug", "red running shoes for kids"]),
        tf.constant(["blue mug", "white tea cup with heart light holder and box"]),
    )
    ids = tokens["input_ids"].numpy()
    assert ids.shape == (2, 12)
    cls, sep, pad = vocab["[CLS]"], vocab["[SEP]"], vocab["[PAD]"]
    expected = [cls, vocab["red"], vocab["mug"], sep, vocab["blue"], vocab["mug"], sep]
    assert ids[0, :7].tolist() == expected and (ids[0, 7:] == pad).all()
    assert tokens["token_type_ids"].numpy()[0, :7].tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert tokens["attention_mask"].numpy()[0].tolist() == [1] * 7 + [0] * 5
    # the query is cut to query_length (5 with [CLS] and [SEP]), the title fills the rest
    assert ids[1, :5].tolist() == [cls, vocab["red"], vocab["running"], vocab["shoes"], sep]
    assert ids[1, -1] == sep and tokens["attention_mask"].numpy()[1].sum() == 12


def test_scores_lists_and_only_top_layers_train(model):
    scores = model(
        {
            "query": tf.constant([["mug"] * 3, ["tent"] * 3]),
            "title": tf.constant([["red mug", "tent", "lamp"], ["a", "b", "c"]]),
        }
    )
    assert scores.shape == (2, 3)
    names = [w.name for w in model.trainable_weights]
    assert any("layer_._1" in n for n in names) and not any("layer_._0" in n for n in names)
    assert any("score" in n for n in names)


def test_training_lowers_the_loss(model):
    queries = np.array([["red mug"] * 4, ["running shoes"] * 4] * 4)
    titles = np.array(
        [
            ["red mug", "tent", "lamp", "blue mug"],
            ["running shoes", "frying pan", "sneakers", "candle"],
        ]
        * 4
    )
    labels = np.array([[3.0, 0.0, 0.0, 1.0], [3.0, 0.0, 2.0, 0.0]] * 4, "float32")
    model.compile_default()
    hist = model.fit({"query": queries, "title": titles}, labels, batch_size=4, epochs=8, verbose=0)
    assert hist.history["loss"][-1] < hist.history["loss"][0]


def test_get_config_round_trip(model):
    x = {"query": tf.constant(["red mug", "tent"]), "title": tf.constant(["mug", "lamp"])}
    blob = keras.utils.serialize_keras_object(model)
    assert blob["registered_name"] == "tfrec>CrossEncoder"
    again = CrossEncoder.from_config(model.get_config())
    assert again.get_config() == model.get_config()
    again(x)
    again.set_weights(model.get_weights())
    np.testing.assert_allclose(again(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-6)


def test_bad_arguments_and_inputs(tiny_bert_dir, model):
    with pytest.raises(ValueError, match="query_length"):
        CrossEncoder(str(tiny_bert_dir), max_length=8, query_length=7)
    with pytest.raises(ValueError, match="missing: title"):
        model({"query": tf.constant(["mug"])})
