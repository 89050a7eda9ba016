import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from tfrec.text.cache import EmbeddingCache, text_key


class CountingEncoder:
    """A deterministic fake encode_fn that records which texts it was asked for."""

    def __init__(self, dim=4):
        self.dim = dim
        self.calls: list[list[str]] = []

    def __call__(self, texts):
        self.calls.append(list(texts))
        seeds = [int(text_key(t)[:8], 16) for t in texts]
        return np.stack([np.random.default_rng(s).standard_normal(self.dim) for s in seeds]).astype(
            np.float32
        )


def test_second_call_computes_nothing(tmp_path):
    encode = CountingEncoder()
    cache = EmbeddingCache(tmp_path, "model-a", max_length=32, pooling="mean")
    texts = ["red mug", "blue cup", "red mug", ""]
    first = cache.get_or_compute(texts, encode)
    assert encode.calls == [["red mug", "blue cup", ""]]  # each distinct text once
    assert (cache.last_hits, cache.last_computed) == (0, 3)
    np.testing.assert_array_equal(first[0], first[2])
    np.testing.assert_array_equal(first, encode(texts))

    reopened = EmbeddingCache(tmp_path, "model-a", max_length=32, pooling="mean")
    encode.calls.clear()
    second = reopened.get_or_compute(texts, encode)
    assert encode.calls == []
    assert (reopened.last_hits, reopened.last_computed) == (3, 0)
    np.testing.assert_array_equal(second, first)

    third = reopened.get_or_compute(["blue cup", "green tea"], encode)
    assert encode.calls == [["green tea"]]
    np.testing.assert_array_equal(third[0], first[1])
    assert len(reopened) == 4 and reopened.dim() == 4


def test_checkpoint_max_length_and_pooling_key_separately(tmp_path):
    texts = ["red mug"]
    base = EmbeddingCache(tmp_path, "model-a", max_length=32, pooling="mean")
    base.get_or_compute(texts, CountingEncoder())
    for other in (
        EmbeddingCache(tmp_path, "model-b", max_length=32, pooling="mean"),
        EmbeddingCache(tmp_path, "model-a", max_length=64, pooling="mean"),
        EmbeddingCache(tmp_path, "model-a", max_length=32, pooling="cls"),
    ):
        encode = CountingEncoder()
        other.get_or_compute(texts, encode)
        assert encode.calls == [texts]
        assert other.path != base.path


def test_checkpoint_directories_are_fingerprinted(tmp_path, tiny_bert_dir, make_tiny_bert):
    retrained = make_tiny_bert(tmp_path / "retrained", seed=1)
    a = EmbeddingCache(tmp_path / "c", str(tiny_bert_dir), max_length=8, pooling="mean")
    b = EmbeddingCache(tmp_path / "c", str(retrained), max_length=8, pooling="mean")
    assert a.fingerprint != str(tiny_bert_dir) and a.fingerprint != b.fingerprint
    assert a.path != b.path


def test_bad_encode_fn_output_is_named(tmp_path):
    cache = EmbeddingCache(tmp_path, "model-a", max_length=32, pooling="mean")
    with pytest.raises(ValueError, match=r"shape \(1, 4\) for 2 texts"):
        cache.get_or_compute(["a", "b"], lambda texts: np.zeros((1, 4)))
    cache.get_or_compute(["a"], CountingEncoder(dim=4))
    with pytest.raises(ValueError, match="8-wide embeddings but the cache .* holds 4-wide"):
        cache.get_or_compute(["b"], CountingEncoder(dim=8))
    with pytest.raises(TypeError, match=r"texts\[1\] is float"):
        cache.get_or_compute(["a", float("nan")], CountingEncoder())


def test_failed_encode_stores_nothing(tmp_path):
    cache = EmbeddingCache(tmp_path, "model-a", max_length=32, pooling="mean")

    def broken(texts):
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        cache.get_or_compute(["a", "b"], broken)
    assert len(cache) == 0


def test_a_killed_write_leaves_the_cache_as_it_was(tmp_path):
    cache = EmbeddingCache(tmp_path, "model-a", max_length=32, pooling="mean")
    before = cache.get_or_compute(["kept"], CountingEncoder())
    # A process dies in the middle of writing a batch: rows inserted, never committed.
    script = (
        "import sqlite3, os, sys\n"
        "conn = sqlite3.connect(sys.argv[1])\n"
        "conn.execute('BEGIN')\n"
        "conn.executemany('INSERT INTO embeddings VALUES (?, ?)',"
        " [(str(i), b'0000') for i in range(5000)])\n"
        "os._exit(9)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(cache.path)], check=False)
    assert result.returncode == 9
    with sqlite3.connect(cache.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert len(cache) == 1
    encode = CountingEncoder()
    np.testing.assert_array_equal(cache.get_or_compute(["kept"], encode), before)
    assert encode.calls == []


def test_empty_input_and_bad_checkpoint_id(tmp_path):
    cache = EmbeddingCache(tmp_path, "model-a", max_length=32, pooling="mean")
    assert cache.get_or_compute([], CountingEncoder()).shape == (0, 0)
    cache.get_or_compute(["a"], CountingEncoder())
    assert cache.get_or_compute([], CountingEncoder()).shape == (0, 4)
    with pytest.raises(ValueError, match="`checkpoint_id` must be a non-empty string"):
        EmbeddingCache(tmp_path, "", max_length=32, pooling="mean")


def test_with_a_frozen_text_encoder(tmp_path, tiny_bert_dir):
    from tfrec.text.encoder import TextEncoder

    encoder = TextEncoder(str(tiny_bert_dir), max_length=8)
    cache = EmbeddingCache(tmp_path, str(tiny_bert_dir), max_length=8, pooling="mean")
    texts = ["red mug", "blue cup", "red mug"]
    cached = cache.get_or_compute(texts, lambda t: encoder.encode_texts(t, progress=False))
    np.testing.assert_allclose(cached, encoder.encode_texts(texts, progress=False), atol=1e-6)
    again = cache.get_or_compute(texts, lambda t: pytest.fail(f"recomputed {t}"))
    np.testing.assert_array_equal(again, cached)
