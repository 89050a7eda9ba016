"""Frozen-encoder text embeddings through the on-disk cache: the one helper that every caller
(retrieval training, the ranker's query table, the shop, the server) uses, so each text is
encoded once per checkpoint and BERT is loaded only when the cache misses."""

from __future__ import annotations

import numpy as np

from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.text.cache import EmbeddingCache
from tfrec.text.encoder import TextEncoder


def make_text_encoder(cfg: Config, mode: str | None = None, name: str = "text_encoder"):
    """The `TextEncoder` of a config (`text` section), in its mode or `mode`.

    Args:
        cfg: the run's config.
        mode: `frozen`, `top_k_layers` or `full` (default: `cfg.text.mode`).
        name: the Keras layer name.

    Example:
        >>> encoder = make_text_encoder(cfg, mode="frozen")  # doctest: +SKIP
    """
    t = cfg.text
    return TextEncoder(
        t.checkpoint,
        max_length=t.max_length,
        pooling=t.pooling,
        mode=mode or t.mode,
        trainable_layers=t.trainable_layers,
        # a TPU (and XLA) compiles one shape: keep batches padded to max_length there
        trim_padding=not cfg.training.static_shapes,
        name=name,
    )


class FrozenTextEmbedder:
    """Frozen-encoder embeddings of texts, read from the embedding cache; what the cache does
    not hold is encoded (the encoder is built on the first miss) and stored.

    Args:
        cfg: the run's config (`text`: checkpoint, max_length, pooling, cache_dir,
            encode_batch_size).
        encoder: an already built frozen `TextEncoder` to use instead of building one.

    Example:
        >>> embed = FrozenTextEmbedder(cfg)  # doctest: +SKIP
        >>> embed(["red running shoes"]).shape  # doctest: +SKIP
        (1, 384)
    """

    def __init__(self, cfg: Config, encoder: TextEncoder | None = None):
        t = cfg.text
        self.cfg = cfg
        self.encoder = encoder
        self.cache = EmbeddingCache(t.cache_dir, t.checkpoint, t.max_length, t.pooling)
        self.last_hits = 0
        self.last_computed = 0

    def _encode(self, texts: list[str]) -> np.ndarray:
        if self.encoder is None:
            self.encoder = make_text_encoder(self.cfg, mode="frozen")
        return self.encoder.encode_texts(texts, batch_size=self.cfg.text.encode_batch_size)

    def __call__(self, texts: list[str]) -> np.ndarray:
        """`[len(texts), D]` float32 embeddings (`[0, 0]` for no texts)."""
        if not len(texts):
            self.last_hits = self.last_computed = 0
            return np.zeros((0, 0), np.float32)
        out = self.cache.get_or_compute(list(texts), self._encode)
        self.last_hits, self.last_computed = self.cache.last_hits, self.cache.last_computed
        return np.asarray(out, np.float32)


def frozen_text_tables(cfg: Config, data, encoder=None) -> tuple[np.ndarray, np.ndarray]:
    """Frozen-encoder embeddings of every item text and every known query of prepared data.
    Row 0 of each is zeros (padding item / no query).

    Args:
        cfg: the run's config.
        data: `PreparedData` (its catalog texts and query vocabulary).
        encoder: an already built frozen `TextEncoder` (optional).

    Example:
        >>> item_table, query_table = frozen_text_tables(cfg, data)  # doctest: +SKIP
    """
    t = cfg.text
    embed = FrozenTextEmbedder(cfg, encoder)
    items = embed(data.catalog.texts[1:])
    item_hits, item_new = embed.last_hits, embed.last_computed
    queries = embed(data.queries[1:]) if len(data.queries) > 1 else None
    dim = items.shape[1]
    item_table = np.vstack([np.zeros((1, dim), np.float32), items]).astype(np.float32)
    query_table = np.zeros((len(data.queries), dim), np.float32)
    if queries is not None:
        query_table[1:] = queries
    echo(
        f"[text] item texts: {item_hits} cached, {item_new} encoded; queries: "
        f"{embed.last_hits if queries is not None else 0} cached, "
        f"{embed.last_computed if queries is not None else 0} encoded ({embed.cache.path})"
    )
    if embed.encoder is not None:
        tok = embed.encoder.tokenizer
        n_items = tok.count_truncated(data.catalog.texts[1:])
        n_queries = tok.count_truncated(data.queries[1:]) if len(data.queries) > 1 else 0
        echo(
            f"[text] truncated to {t.max_length} tokens: {n_items} of {len(data.catalog) - 1} "
            f"item texts, {n_queries} of {len(data.queries) - 1} queries"
        )
    return item_table, query_table
