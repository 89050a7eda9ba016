import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tf_keras as keras

from tfrec.text.tokenizer import BertTokenizerLayer

QUERIES = [
    "Café crème mug",
    "sz 10 sneakers",
    "iphone 15 pro-max case!!",
    "runing shoes womens",
    "NIKE Air Max 90 — size 44½",
    "crème brûlée ramekins (set of 6)",
    "usb-c cable 2m/6ft",
    "kids' t-shirt 3-4 yrs",
    "50% off jumbo bag",
    "naïve façade décor",
    "Größe 42 Schuhe",
    'tv 55" 4k',
    "  extra   spaces\tand\ttabs  ",
    "emoji mug ☕️ 🎄",
    "日本 tea cup",
    "ΣΊΣΥΦΟΣ mug",
    "ﬁne ½ inch … x²",
    "zero\u200dwidth\u00a0nbsp\u3000ideographic",
    "ctrl\x07char",
    "",
]


@pytest.fixture(scope="module")
def tiny_tokenizer(tiny_bert_dir):
    return BertTokenizerLayer(tiny_bert_dir / "vocab.txt", max_length=8)


def test_layout_cls_sep_padding(tiny_tokenizer, tiny_bert_dir):
    vocab = (tiny_bert_dir / "vocab.txt").read_text().split("\n")
    out = tiny_tokenizer(tf.constant(["Running shoes", ""]))
    ids = out["input_ids"].numpy()
    expected = [vocab.index(t) for t in ["[CLS]", "running", "shoes", "[SEP]"]]
    assert ids[0, :4].tolist() == expected and ids[0, 4:].tolist() == [0, 0, 0, 0]
    # An empty text is [CLS][SEP]; the caller decides what empty text means.
    assert ids[1, :2].tolist() == [vocab.index("[CLS]"), vocab.index("[SEP]")]
    assert out["attention_mask"].numpy().tolist() == [[1] * 4 + [0] * 4, [1] * 2 + [0] * 6]
    assert out["token_type_ids"].numpy().sum() == 0
    assert all(t.dtype == tf.int32 and t.shape == (2, 8) for t in out.values())


def test_batch_by_one_input_and_truncation(tiny_tokenizer):
    texts = ["red mug", "red blue white black green mug cup tea", "mug"]
    flat = tiny_tokenizer(tf.constant(texts))["input_ids"].numpy()
    column = tiny_tokenizer(tf.constant([[t] for t in texts]))["input_ids"].numpy()
    np.testing.assert_array_equal(flat, column)
    assert flat[1, -1] == tiny_tokenizer.sep_id  # truncated, still ends with [SEP]
    assert tiny_tokenizer.truncated(tf.constant(texts)).numpy().tolist() == [False, True, False]
    assert tiny_tokenizer.count_truncated(texts) == 1
    assert tiny_tokenizer.count_truncated(texts, batch_size=1) == 1


def test_bad_input_is_named(tiny_tokenizer, tmp_path):
    with pytest.raises(ValueError, match=r"shape \[batch\] or \[batch, 1\]"):
        tiny_tokenizer(tf.constant([["a", "b"]]))
    with pytest.raises(TypeError, match="takes raw text"):
        tiny_tokenizer(tf.constant([1, 2]))
    with pytest.raises(ValueError, match="max_length"):
        BertTokenizerLayer(tmp_path / "vocab.txt", max_length=1)
    with pytest.raises(FileNotFoundError, match="vocab file"):
        BertTokenizerLayer(tmp_path / "vocab.txt")
    (tmp_path / "vocab.txt").write_text("a\nb\n[PAD]\n")
    with pytest.raises(ValueError, match=r"lacks the special tokens \[UNK\], \[CLS\], \[SEP\]"):
        BertTokenizerLayer(tmp_path / "vocab.txt")


def test_casing_follows_tokenizer_config(tiny_bert_dir, make_tiny_bert, tmp_path):
    cased_dir = make_tiny_bert(tmp_path / "cased", weights="none", lower_case=False)
    cased = BertTokenizerLayer(cased_dir / "vocab.txt", max_length=8)
    uncased = BertTokenizerLayer(tiny_bert_dir / "vocab.txt", max_length=8)
    assert not cased.lower_case and uncased.lower_case
    # The tiny vocab has only lowercase words, so the cased tokenizer falls back to pieces.
    text = tf.constant(["MUG"])
    assert cased(text)["input_ids"].numpy()[0, 1] != uncased(text)["input_ids"].numpy()[0, 1]


def test_config_round_trip(tiny_tokenizer):
    clone = BertTokenizerLayer.from_config(tiny_tokenizer.get_config())
    assert clone.get_config() == tiny_tokenizer.get_config()
    restored = keras.layers.deserialize(keras.layers.serialize(tiny_tokenizer))
    texts = tf.constant(["café crème mug", "x"])
    np.testing.assert_array_equal(
        restored(texts)["input_ids"].numpy(), tiny_tokenizer(texts)["input_ids"].numpy()
    )


def test_runs_in_tf_data(tiny_tokenizer):
    texts = ["red mug", "blue cup", "tea"]
    ds = tf.data.Dataset.from_tensor_slices(texts).batch(2).map(tiny_tokenizer)
    ids = np.concatenate([b["input_ids"].numpy() for b in ds])
    np.testing.assert_array_equal(ids, tiny_tokenizer(tf.constant(texts))["input_ids"].numpy())


def test_runs_in_a_saved_model(tiny_tokenizer, tmp_path):
    module = tf.Module()
    module.tokenizer = tiny_tokenizer
    module.tokenize = tf.function(
        lambda texts: tiny_tokenizer(texts), input_signature=[tf.TensorSpec([None], tf.string)]
    )
    tf.saved_model.save(module, str(tmp_path / "tok"))
    loaded = tf.saved_model.load(str(tmp_path / "tok"))
    texts = tf.constant(["Café crème mug", "", "iphone 15 pro-max case!!"])
    np.testing.assert_array_equal(
        loaded.tokenize(texts)["input_ids"].numpy(), tiny_tokenizer(texts)["input_ids"].numpy()
    )


def _product_titles(path, n=2000):
    frame = pd.read_csv(path, usecols=["Description"], nrows=200_000)
    titles = frame["Description"].dropna().astype(str).drop_duplicates()
    return titles.sample(n=min(n, len(titles)), random_state=0).tolist()


def test_wordpiece_implementation_gives_the_fast_ids(tiny_bert_dir, tiny_tokenizer):
    wordpiece = BertTokenizerLayer(
        tiny_bert_dir / "vocab.txt", max_length=8, implementation="wordpiece"
    )
    texts = QUERIES + ["running shoes", "red blue white black green mug cup tea", "MUG!!"]
    got, want = wordpiece(tf.constant(texts)), tiny_tokenizer(tf.constant(texts))
    for key in want:
        np.testing.assert_array_equal(got[key].numpy(), want[key].numpy(), err_msg=key)
    assert wordpiece.count_truncated(texts) == tiny_tokenizer.count_truncated(texts)
    assert wordpiece.get_config()["implementation"] == "wordpiece"
    assert BertTokenizerLayer.from_config(wordpiece.get_config()).implementation == "wordpiece"
    with pytest.raises(ValueError, match="implementation.*Received: implementation='rust'"):
        BertTokenizerLayer(tiny_bert_dir / "vocab.txt", implementation="rust")


def test_wordpiece_saved_model_has_no_fast_bert_ops(tiny_bert_dir, tmp_path):
    from tensorflow.core.protobuf import saved_model_pb2

    layer = BertTokenizerLayer(
        tiny_bert_dir / "vocab.txt", max_length=8, implementation="wordpiece"
    )
    module = tf.Module()
    module.tokenizer = layer
    module.tokenize = tf.function(
        lambda texts: layer(texts), input_signature=[tf.TensorSpec([None], tf.string)]
    )
    tf.saved_model.save(module, str(tmp_path / "tok"))
    sm = saved_model_pb2.SavedModel.FromString((tmp_path / "tok" / "saved_model.pb").read_bytes())
    graph = sm.meta_graphs[0].graph_def
    ops = {n.op for n in graph.node} | {n.op for f in graph.library.function for n in f.node_def}
    assert "WordpieceTokenizeWithOffsets" in ops
    assert not [op for op in ops if op.startswith("FastBert")]
    loaded = tf.saved_model.load(str(tmp_path / "tok"))
    texts = tf.constant(["Café crème mug", "", "iphone 15 pro-max case!!"])
    np.testing.assert_array_equal(
        loaded.tokenize(texts)["input_ids"].numpy(), layer(texts)["input_ids"].numpy()
    )


@pytest.mark.integration
@pytest.mark.parametrize("implementation", ["fast", "wordpiece"])
def test_token_ids_match_hugging_face_on_real_titles(
    minilm_dir, online_retail_path, implementation
):
    from transformers import BertTokenizerFast

    max_length = 32
    texts = _product_titles(online_retail_path) + QUERIES
    texts += [t.lower() for t in QUERIES] + [t.title() for t in QUERIES]
    hf = BertTokenizerFast.from_pretrained(str(minilm_dir))
    expected = hf(
        texts,
        max_length=max_length,
        truncation=True,
        padding="max_length",
        return_tensors="np",
    )
    layer = BertTokenizerLayer(
        minilm_dir / "vocab.txt", max_length=max_length, implementation=implementation
    )
    got = layer(tf.constant(texts))
    for key in ("input_ids", "attention_mask", "token_type_ids"):
        same = (got[key].numpy() == expected[key]).all(axis=1)
        mismatched = [texts[i] for i in np.flatnonzero(~same)]
        print(f"parity {implementation} {key}: {same.sum()} / {len(texts)} texts match")
        assert not mismatched, f"{key} differs from Hugging Face for {mismatched[:5]}"
    hf_truncated = sum(len(ids) > max_length for ids in hf(texts)["input_ids"])
    assert layer.count_truncated(texts) == hf_truncated
