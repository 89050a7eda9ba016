"""EmbeddingCache: frozen-mode text embeddings kept on disk, so each text is encoded once."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from tfrec.text.backbone import CheckpointError, checkpoint_fingerprint, resolve_checkpoint

# sqlite allows at most 999 or 32766 parameters per statement depending on the build.
_LOOKUP_CHUNK = 900


def text_key(text: str) -> str:
    """The cache key of one text: the sha1 of its UTF-8 bytes."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _checkpoint_identity(checkpoint_id: str) -> str:
    """A fingerprint for a checkpoint name or directory; any other string is used as it is."""
    if checkpoint_id == "minilm" or Path(os.path.expanduser(checkpoint_id)).is_dir():
        return checkpoint_fingerprint(resolve_checkpoint(checkpoint_id))
    return checkpoint_id


class EmbeddingCache:
    """Embeddings of texts under one (checkpoint, max_length, pooling), stored in sqlite.

    Only a frozen BERT gives the same embedding for the same text every time, so use the cache
    in `frozen` mode. Entries are keyed by the checkpoint fingerprint (config.json plus the
    weights file's size and first and last bytes, see `checkpoint_fingerprint`), `max_length`,
    `pooling` and the sha1 of the text; each combination of the first three gets its own file
    in `cache_dir`. New embeddings are written in one sqlite transaction, so a killed write
    leaves the cache as it was before it.

    Args:
        cache_dir: directory for the cache files (created when missing).
        checkpoint_id: a checkpoint name or directory (`minilm`, a local path: fingerprinted
            from its files), or any string that identifies the weights (used as is).
        max_length: the encoder's `max_length`.
        pooling: the encoder's pooling mode.

    Example:
    ```python
    encoder = TextEncoder("minilm", max_length=32)
    cache = EmbeddingCache(".cache/tfrec/text", "minilm", max_length=32, pooling="mean")
    vectors = cache.get_or_compute(titles, lambda t: encoder.encode_texts(t, batch_size=256))
    ```
    """

    def __init__(
        self,
        cache_dir: str | os.PathLike,
        checkpoint_id: str,
        max_length: int,
        pooling: str,
    ):
        if not isinstance(checkpoint_id, str) or not checkpoint_id:
            raise ValueError(
                f"`checkpoint_id` must be a non-empty string. Received: {checkpoint_id!r}"
            )
        self.cache_dir = Path(cache_dir)
        self.checkpoint_id = checkpoint_id
        self.max_length = int(max_length)
        self.pooling = pooling
        try:
            self.fingerprint = _checkpoint_identity(checkpoint_id)
        except CheckpointError as e:
            raise CheckpointError(f"embedding cache: {e}") from e
        self.namespace = {
            "checkpoint": self.fingerprint,
            "max_length": self.max_length,
            "pooling": self.pooling,
        }
        digest = hashlib.sha1(json.dumps(self.namespace, sort_keys=True).encode()).hexdigest()
        self.path = self.cache_dir / f"embeddings-{digest[:16]}.sqlite"
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._init_db()
        self.last_hits = 0
        self.last_computed = 0

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection whose statements commit together on success and roll back on error."""
        conn = sqlite3.connect(self.path, timeout=60)
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def _init_db(self) -> None:
        try:
            with self._connect() as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB)"
                )
                conn.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('namespace', ?)",
                    (json.dumps(self.namespace, sort_keys=True),),
                )
        except sqlite3.DatabaseError as e:
            raise RuntimeError(
                f"embedding cache {self.path} cannot be opened ({e}); delete the file to rebuild it"
            ) from e

    def __len__(self) -> int:
        with self._connect() as conn:
            return conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]

    def dim(self) -> int | None:
        """The embedding width stored in this cache, or None while it is empty."""
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
        return None if row is None else int(row[0])

    def lookup(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached embeddings of those `texts` that are in the cache, by text."""
        by_key = {text_key(t): t for t in texts}
        found: dict[str, np.ndarray] = {}
        keys = list(by_key)
        with self._connect() as conn:
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                chunk = keys[start : start + _LOOKUP_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT key, vector FROM embeddings WHERE key IN ({marks})", chunk
                )
                for key, blob in rows:
                    found[by_key[key]] = np.frombuffer(blob, dtype=np.float32)
        return found

    def get_or_compute(
        self, texts: Sequence[str], encode_fn: Callable[[list[str]], np.ndarray]
    ) -> np.ndarray:
        """The embeddings of `texts` in order, float32 `[len(texts), dim]`.

        Texts already in the cache are read; the others (each distinct text once) are passed
        to `encode_fn` as one list, stored, and returned with the rest. `last_hits` and
        `last_computed` count the distinct texts read and computed by the last call.
        """
        bad = next(((i, t) for i, t in enumerate(texts) if not isinstance(t, str)), None)
        if bad is not None:
            raise TypeError(
                f"embedding cache takes strings; texts[{bad[0]}] is {type(bad[1]).__name__}: "
                f"{bad[1]!r}"
            )
        unique = list(dict.fromkeys(texts))
        found = self.lookup(unique)
        missing = [t for t in unique if t not in found]
        self.last_hits, self.last_computed = len(found), len(missing)
        dim = self.dim()
        if missing:
            computed = np.asarray(encode_fn(missing))
            if computed.ndim != 2 or computed.shape[0] != len(missing):
                raise ValueError(
                    f"encode_fn returned an array of shape {computed.shape} for {len(missing)} "
                    "texts; it must return one row per text, shape [n_texts, dim]"
                )
            if dim is not None and computed.shape[1] != dim:
                raise ValueError(
                    f"encode_fn returned {computed.shape[1]}-wide embeddings but the cache "
                    f"{self.path} holds {dim}-wide ones for the same checkpoint, max_length and "
                    "pooling"
                )
            computed = computed.astype(np.float32, copy=False)
            self._store(missing, computed)
            found.update(zip(missing, computed, strict=True))
            dim = computed.shape[1]
        if not texts:
            return np.zeros((0, dim or 0), np.float32)
        return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)

    def _store(self, texts: list[str], vectors: np.ndarray) -> None:
        rows = [(text_key(t), v.tobytes()) for t, v in zip(texts, vectors, strict=True)]
        # One transaction: either every row and the width are written, or none is.
        with self._connect() as conn:
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('dim', ?)", (str(vectors.shape[1]),))
            conn.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?)", rows)
