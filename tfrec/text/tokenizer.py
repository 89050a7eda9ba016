"""BertTokenizerLayer: raw strings -> BERT inputs, inside the TensorFlow graph."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
import tf_keras as keras

# what the tokenizer returns and BERT takes, in this order
TOKEN_KEYS = ("input_ids", "attention_mask", "token_type_ids")

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
IMPLEMENTATIONS = ("fast", "wordpiece")
# Characters Hugging Face's BERT tokenizer removes: NUL, U+FFFD and control/format characters
# other than tab, newline and carriage return (which are whitespace).
_CONTROL_CHARS = r"[\x00\x{FFFD}\p{Cf}\p{Co}\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x{9f}]"


def read_vocab(vocab_path: str | os.PathLike) -> list[str]:
    """The WordPiece tokens of a vocab.txt, one per line, in id order."""
    vocab_path = Path(vocab_path)
    if not vocab_path.is_file():
        raise FileNotFoundError(f"vocab file {vocab_path} does not exist")
    # Hugging Face strips only the line break, so a token may be whitespace-free anything.
    tokens = vocab_path.read_text(encoding="utf-8").split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    tokens = [t.rstrip("\r") for t in tokens]
    missing = [t for t in SPECIAL_TOKENS if t not in tokens]
    if missing:
        raise ValueError(f"vocab file {vocab_path} lacks the special tokens {', '.join(missing)}")
    return tokens


def checkpoint_lower_case(vocab_path: str | os.PathLike) -> bool:
    """Whether the checkpoint of a vocab.txt lowercases: `do_lower_case` of the
    tokenizer_config.json next to it, else True (uncased, as most BERT checkpoints are)."""
    config_file = Path(vocab_path).parent / "tokenizer_config.json"
    if not config_file.is_file():
        return True
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{config_file} is not valid JSON: {e}") from e
    lower = bool(data.get("do_lower_case", True))
    if lower and data.get("strip_accents") is False:
        raise ValueError(
            f"{config_file} sets do_lower_case=true with strip_accents=false; the in-graph "
            "FastBertTokenizer can only lowercase together with accent stripping"
        )
    return lower


@keras.utils.register_keras_serializable(package="tfrec")
class BertTokenizerLayer(keras.layers.Layer):
    """A BERT WordPiece tokenizer as a Keras layer: raw strings -> padded BERT inputs.

    It normalizes text as Hugging Face's BERT tokenizer does and runs a TF Text WordPiece
    tokenizer in the graph, so it works inside `tf.data` and inside exported SavedModels that
    take `tf.string` input (import `tensorflow_text` before `tf.saved_model.load`, which
    registers its ops). Two implementations give the same token ids:

    - `"fast"`: `tensorflow_text.FastBertTokenizer` (ops `FastBertNormalize`,
      `FastWordpieceTokenizeWithOffsets`); the faster one.
    - `"wordpiece"`: `tensorflow_text.BertTokenizer` over a `tf.lookup.StaticVocabularyTable`
      (ops `RegexSplitWithOffsets`, `WordpieceTokenizeWithOffsets` and core lookup ops). Use it
      in SavedModels for stock TF Serving builds whose linked TF Text lacks the FastBert ops
      (tensorflow/serving#2064).

    Each text becomes
    `[CLS] tokens [SEP] [PAD]...`, truncated to `max_length`; an empty text becomes
    `[CLS] [SEP]` (the caller decides what empty text means). Use `truncated` or
    `count_truncated` to count inputs that did not fit.

    Args:
        vocab_path: str. The checkpoint's vocab.txt.
        max_length: int. Tokens per text including [CLS] and [SEP]. Defaults to 32.
        lower_case: bool or None. Lowercase and strip accents (uncased BERT). Defaults to
            None: `do_lower_case` of the checkpoint's tokenizer_config.json, else True.
        implementation: str. `"fast"` or `"wordpiece"` (see above). Defaults to `"fast"`.
        **kwargs: passed to `keras.layers.Layer`.

    Returns from `call`:
        A dict of int32 tensors of shape `[batch, max_length]`: `input_ids`,
        `attention_mask` (1 for real tokens) and `token_type_ids` (all 0).

    Example:
    ```python
    tokenizer = BertTokenizerLayer(resolve_checkpoint("minilm") / "vocab.txt", max_length=16)
    tokens = tokenizer(tf.constant(["running shoes", "Café crème mug"]))
    tokens["input_ids"].shape  # (2, 16)
    ```
    """

    def __init__(
        self,
        vocab_path: str | os.PathLike,
        max_length: int = 32,
        lower_case: bool | None = None,
        implementation: str = "fast",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if implementation not in IMPLEMENTATIONS:
            raise ValueError(
                f"`implementation` must be one of {', '.join(IMPLEMENTATIONS)}. "
                f"Received: implementation={implementation!r}"
            )
        if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
            raise TypeError(f"`max_length` must be an int. Received: max_length={max_length!r}")
        if max_length < 2:
            raise ValueError(
                f"`max_length` must be >= 2 ([CLS] and [SEP]). Received: max_length={max_length}"
            )
        self.vocab_path = os.fspath(vocab_path)
        self.max_length = int(max_length)
        self.implementation = implementation
        self.lower_case = (
            checkpoint_lower_case(self.vocab_path) if lower_case is None else bool(lower_case)
        )
        vocab = read_vocab(self.vocab_path)
        self.vocab_size = len(vocab)
        index = {t: i for i, t in enumerate(vocab)}
        self.pad_id, self.cls_id, self.sep_id = index["[PAD]"], index["[CLS]"], index["[SEP]"]
        # Normalization is done by `_normalize` (as Hugging Face does it); FastBertTokenizer's
        # own lower_case_nfd_strip_accents also applies compatibility folding (ß -> ss,
        # ½ -> 1/2, ﬁ -> fi, … -> ...), which changes the ids of such texts.
        if implementation == "fast":
            self._tokenizer = tf_text.FastBertTokenizer(
                vocab=vocab,
                token_out_type=tf.int32,
                unknown_token="[UNK]",
                lower_case_nfd_strip_accents=False,
            )
        else:
            # the last id of a token listed twice, as Hugging Face's load_vocab keeps it
            table = tf.lookup.StaticVocabularyTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(list(index)),
                    tf.constant(list(index.values()), dtype=tf.int64),
                ),
                num_oov_buckets=1,
            )
            # lower_case=False, no normalization_form: the text arrives normalized; its basic
            # tokenizer splits on whitespace, punctuation and CJK characters as BERT's does
            self._tokenizer = tf_text.BertTokenizer(
                table, token_out_type=tf.int64, unknown_token="[UNK]", lower_case=False
            )

    def _flat_strings(self, inputs) -> tf.Tensor:
        inputs = tf.convert_to_tensor(inputs)
        if inputs.dtype != tf.string:
            raise TypeError(
                f"{self.name} takes raw text (tf.string). Received dtype {inputs.dtype.name}"
            )
        rank = inputs.shape.rank
        if rank == 2 and inputs.shape[-1] in (1, None):
            return tf.squeeze(inputs, axis=-1)
        if rank != 1:
            raise ValueError(
                f"{self.name} takes a batch of strings of shape [batch] or [batch, 1]. "
                f"Received shape {inputs.shape}"
            )
        return inputs

    def _normalize(self, texts: tf.Tensor) -> tf.Tensor:
        """Hugging Face's BertNormalizer in the graph: drop control characters, map Unicode
        spaces to " ", and for uncased checkpoints strip accents (NFD, drop Mn) and lowercase."""
        texts = tf.strings.regex_replace(texts, _CONTROL_CHARS, "")
        texts = tf.strings.regex_replace(texts, r"\p{Zs}", " ")
        if not self.lower_case:
            return texts
        texts = tf_text.normalize_utf8(texts, "NFD")
        texts = tf.strings.regex_replace(texts, r"\p{Mn}", "")
        # Lowercase code point by code point, as Hugging Face does (no final sigma).
        texts = tf.strings.regex_replace(texts, "Σ", "σ")
        return tf.strings.lower(texts, encoding="utf-8")

    def _wordpieces(self, inputs) -> tf.RaggedTensor:
        texts = self._normalize(self._flat_strings(inputs))
        if self.implementation == "fast":
            return self._tokenizer.tokenize(texts)
        # [batch, words, pieces] int64 -> [batch, pieces] int32
        return tf.cast(self._tokenizer.tokenize(texts).merge_dims(-2, -1), tf.int32)

    def call(self, inputs) -> dict[str, tf.Tensor]:
        pieces = self._wordpieces(inputs)[:, : self.max_length - 2]
        batch = pieces.nrows()
        cls = tf.fill([batch, 1], self.cls_id)
        sep = tf.fill([batch, 1], self.sep_id)
        ids = tf.concat([cls, pieces, sep], axis=1)
        shape = [None, self.max_length]
        input_ids = ids.to_tensor(default_value=self.pad_id, shape=shape)
        attention_mask = tf.ones_like(ids).to_tensor(default_value=0, shape=shape)
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": tf.zeros_like(input_ids),
        }

    def truncated(self, inputs) -> tf.Tensor:
        """A bool tensor [batch]: True where a text has more tokens than fit in `max_length`."""
        return self._wordpieces(inputs).row_lengths() > self.max_length - 2

    def count_truncated(self, texts: Sequence[str], batch_size: int = 1024) -> int:
        """How many of `texts` are cut short by `max_length`."""
        total = 0
        for start in range(0, len(texts), batch_size):
            chunk = tf.constant(list(texts[start : start + batch_size]), dtype=tf.string)
            total += int(tf.reduce_sum(tf.cast(self.truncated(chunk), tf.int32)))
        return total

    def compute_output_shape(self, input_shape):
        shape = tf.TensorShape([input_shape[0], self.max_length])
        return {k: shape for k in ("input_ids", "attention_mask", "token_type_ids")}

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "vocab_path": self.vocab_path,
                "max_length": self.max_length,
                "lower_case": self.lower_case,
                "implementation": self.implementation,
            }
        )
        return config
