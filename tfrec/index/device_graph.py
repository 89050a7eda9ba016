"""The device index in the TensorFlow graph: item embeddings held in a `tf.Variable` (placed on
the GPU when TensorFlow sees one), scores by one matmul, top-k by `tf.math.top_k` (the `exact`
kind) or `tf.math.approx_max_k` (the `approx_max_k` kind). Stock TensorFlow ops only (`MatMul`,
`TopKV2`, `ApproxTopK`, `Case`), so stock TF Serving serves a graph that searches this way.

`approx_max_k` takes `k` as a graph constant, while the signatures take `k` as an input: the
search runs `approx_max_k` for the smallest bucket `k_bucket(k, n)` (a power of two, at most the
catalog size) and cuts its sorted result to `k`. In-process search (`DeviceSearchModule`, used by
`DeviceIndex`) and the exported signatures run this same function, so they return the same
items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from tfrec.index.params import DEVICE_MODES, IndexParams

TF_DTYPES = {"float32": tf.float32, "bfloat16": tf.bfloat16, "float16": tf.float16}


def k_bucket(k: int, n: int) -> int:
    """The `k` that `approx_max_k` runs with for a request of `k` over `n` items: the smallest
    power of two >= k, at most n.

    Args:
        k: the neighbours asked for (>= 1).
        n: the catalog size.

    Returns:
        the bucket size.

    Example:
    ```python
    k_bucket(10, 60), k_bucket(50, 60)  # (16, 60)
    ```
    """
    return min(1 << max(0, int(k) - 1).bit_length(), int(n))


def k_buckets(limit: int, n: int) -> list[int]:
    """Every bucket a request of `1 <= k <= min(limit, n)` can fall in, ascending.

    Args:
        limit: the largest `k` a caller may ask for (`export.max_k`).
        n: the catalog size.

    Returns:
        the distinct `k_bucket` values.

    Example:
    ```python
    k_buckets(50, 60)  # [1, 2, 4, 8, 16, 32, 60]
    ```
    """
    top = max(1, min(int(limit), int(n)))
    return sorted({k_bucket(k, n) for k in [1 << i for i in range(top.bit_length())] + [top]})


def device_search(
    table: tf.Variable,
    queries: tf.Tensor,
    k: tf.Tensor,
    limit: int,
    mode: str,
    recall_target: float | None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Top-k positions and scores of `queries` against `table` in stock TensorFlow ops.

    Args:
        table: `[N, D]` item embeddings (float32, bfloat16 or float16; N is static).
        queries: `[B, D]` float32 query embeddings (cast to the table's dtype).
        k: scalar int32, `1 <= k <= min(limit, N)` (the caller checks it).
        limit: the largest `k` the caller accepts (bounds the `approx_max_k` branches).
        mode: `"exact"` (matmul + `tf.math.top_k`) or `"approx_max_k"`.
        recall_target: `approx_max_k`'s recall target (approx_max_k only).

    Returns:
        `(positions [B, k] int32, scores [B, k] float32)`, best first.

    Example:
    ```python
    positions, scores = device_search(table, embedding, k, 1000, "approx_max_k", 0.95)
    ```
    """
    if mode not in DEVICE_MODES:
        raise ValueError(f"device_search mode must be one of {DEVICE_MODES}. Received: {mode!r}")
    scores = tf.matmul(tf.cast(queries, table.dtype), table, transpose_b=True)
    if mode == "exact":
        values, positions = tf.math.top_k(scores, k=k)
    else:
        sizes = k_buckets(limit, int(table.shape[0]))

        def branch(size):
            def run():
                v, p = tf.math.approx_max_k(scores, size, recall_target=recall_target)
                return v[:, :k], p[:, :k]

            return run

        which = tf.searchsorted(tf.constant(sizes, tf.int32), tf.reshape(k, [1]))[0]
        values, positions = tf.switch_case(which, [branch(s) for s in sizes])
    return tf.cast(positions, tf.int32), tf.cast(values, tf.float32)


class DeviceSearchModule(tf.Module):
    """A device index as a `tf.Module`: what `DeviceIndex` searches with in process and what
    `<index>/savedmodel` holds (signatures `search` and `serving_default`:
    `embedding [B, D] float32, k [] int32 -> item_ids [B, k] string, scores [B, k] float32`).

    Args:
        embeddings: `[N, D]` float32 item embeddings (stored as `params.dtype`).
        item_ids: N item ids.
        params: the index's `IndexParams` (mode `exact` or `approx_max_k`).

    Example:
    ```python
    module = DeviceSearchModule(index.embeddings, index.item_ids, index.params)
    positions, scores = module.search_positions(tf.constant(queries), tf.constant(10))
    ```
    """

    def __init__(self, embeddings: np.ndarray, item_ids: list[str], params: IndexParams):
        super().__init__()
        if params.mode not in DEVICE_MODES:
            raise ValueError(f"a device index has mode {DEVICE_MODES}. Received: {params.mode!r}")
        dtype = TF_DTYPES[params.dtype]
        self.mode = params.mode
        self.recall_target = params.recall_target
        self.num_items = len(item_ids)
        self.table = tf.Variable(
            tf.cast(tf.constant(embeddings, tf.float32), dtype), trainable=False, name="table"
        )
        self.item_ids = tf.Variable(
            tf.constant([str(i) for i in item_ids], tf.string), trainable=False, name="item_ids"
        )
        spec = [
            tf.TensorSpec([None, int(embeddings.shape[1])], tf.float32, name="embedding"),
            tf.TensorSpec([], tf.int32, name="k"),
        ]
        self.search_positions = tf.function(self._search_positions, input_signature=spec)
        self.search = tf.function(self._search, input_signature=spec)

    def _search_positions(self, embedding, k):
        tf.debugging.assert_greater_equal(k, 1, message="k must be >= 1")
        k = tf.minimum(k, self.num_items)
        return device_search(
            self.table, embedding, k, self.num_items, self.mode, self.recall_target
        )

    def _search(self, embedding, k):
        positions, scores = self._search_positions(embedding, k)
        return {"item_ids": tf.gather(self.item_ids, positions), "scores": scores}


def save_device_savedmodel(module: DeviceSearchModule, path: Path) -> None:
    """Save a `DeviceSearchModule` as a SavedModel of stock ops (load it with plain
    `tf.saved_model.load`; no ScaNN import needed).

    Args:
        module: the module to save.
        path: the SavedModel directory (`<index>/savedmodel`).

    Example:
    ```python
    save_device_savedmodel(DeviceSearchModule(emb, ids, params), Path("index/savedmodel"))
    tf.saved_model.load("index/savedmodel").signatures["search"](embedding=q, k=tf.constant(5))
    ```
    """
    tf.saved_model.save(
        module,
        str(path),
        signatures={"serving_default": module.search, "search": module.search},
    )
