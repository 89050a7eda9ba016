"""ScaNN in the TensorFlow graph: the searcher state rebuilt from `scann_ops_pybind` serialized
artifacts, in-graph search with an index's parameters, and the `<index>/savedmodel` SavedModel
(saved with `namespace_whitelist=["Scann"]`; load it with `load_scann_savedmodel`, which
registers ScaNN's ops first). The exported searcher returns exactly what the Python one
returns, since both come from the same artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import tensorflow as tf

from tfrec.index.params import IndexParams

if TYPE_CHECKING:
    from tfrec.index.scann_index import ItemIndex


def scann_state_from_artifacts(path: Path):
    """Build the TF-op searcher state from `scann_ops_pybind` serialized artifacts.

    Args:
        path: a directory written by `ScannSearcher.serialize(path, relative_path=True)`.

    Returns:
        a `scann_ops.ScannState` (a `tf.Module` holding the index as tensors).

    Example:
    ```python
    searcher.serialize(tmp, relative_path=True)
    state = scann_state_from_artifacts(Path(tmp))
    ```
    """
    # deferred: scann is a heavy dependency, loaded only when an index is built or exported
    from scann.scann_ops.py import scann_ops

    # an asset the index does not have is a scalar, as `scann_ops.scann_to_tensors` returns it
    def blob(name: str) -> tf.Tensor:
        f = path / name
        return tf.constant([f.read_bytes()]) if f.exists() else tf.constant(b"")

    def array(name: str, dtype) -> tf.Tensor:
        f = path / name
        return tf.constant(np.load(f).astype(dtype)) if f.exists() else tf.zeros([], dtype)

    tensors = [
        blob("scann_config.pb"),
        blob("serialized_partitioner.pb"),
        array("datapoint_to_token.npy", np.int32),
        blob("ah_codebook.pb"),
        array("hashed_dataset.npy", np.uint8),
        array("int8_dataset.npy", np.int8),
        array("int8_multipliers.npy", np.float32),
        array("dp_norms.npy", np.float32),
        array("dataset.npy", np.float32),
    ]
    return scann_ops.ScannState(tensors)


class ScannSearchModule:
    """Builds the `tf.Module` saved as `<index>/savedmodel`: signature `search(embedding [B, D],
    k) -> item_ids [B, k] (tf.string), scores [B, k]`.

    Example:
    ```python
    module = ScannSearchModule.make(index)
    out = module.search(tf.constant(queries), tf.constant(10))
    ```
    """

    @staticmethod
    def make(index: ItemIndex):
        """The search module of `index` (its ScaNN state, item ids and parameters).

        Args:
            index: a built `ItemIndex`.

        Returns:
            a `tf.Module` with a `search(embedding, k)` tf.function.
        """
        # deferred: scann is a heavy dependency (imported here to register its ops)
        from scann.scann_ops.py import scann_ops

        dim = index.embeddings.shape[1]
        params = index.params

        class Module(tf.Module):
            def __init__(self):
                super().__init__()
                self.state = index.scann_module()
                self.item_ids = tf.Variable(
                    tf.constant(index.item_ids, tf.string), trainable=False, name="item_ids"
                )

            @tf.function(
                input_signature=[
                    tf.TensorSpec([None, dim], tf.float32),
                    tf.TensorSpec([], tf.int32),
                ]
            )
            def search(self, embedding, k):
                positions, scores = scann_search(self.state, params, embedding, k)
                return {"item_ids": tf.gather(self.item_ids, positions), "scores": scores}

        del scann_ops
        return Module()


def scann_search(state, params: IndexParams, embedding, k):
    """In-graph ScaNN search with this index's parameters (positions int32 and scores).

    Args:
        state: a `scann_ops.ScannState` (`ItemIndex.scann_module()`).
        params: the index's `IndexParams` (leaves to search, reorder).
        embedding: `[B, D]` float32 query embeddings (a tensor).
        k: neighbours per query (a scalar int32 tensor).

    Returns:
        `(positions [B, k] int32, scores [B, k] float32)`.

    Example:
    ```python
    positions, scores = scann_search(self.state, index.params, embedding, k)
    ```
    """
    # deferred: scann is a heavy dependency, loaded only where the graph searches with it
    from scann.scann_ops.py import scann_ops

    searcher = scann_ops.searcher_from_module(state)
    if params.mode == "scann":
        return searcher.search_batched(
            embedding,
            final_num_neighbors=k,
            pre_reorder_num_neighbors=tf.maximum(k, params.reorder),
            leaves_to_search=params.leaves_to_search,
        )
    return searcher.search_batched(embedding, final_num_neighbors=k)


def save_scann_savedmodel(index: ItemIndex, path: Path) -> None:
    """Save `index` as a SavedModel running ScaNN's TF ops (signatures `serving_default` and
    `search`, see `ScannSearchModule`).

    Args:
        index: a built `ItemIndex`.
        path: the SavedModel directory (`<index>/savedmodel`).

    Example:
    ```python
    save_scann_savedmodel(index, Path("runs/quickstart/index/savedmodel"))
    ```
    """
    module = ScannSearchModule.make(index)
    tf.saved_model.save(
        module,
        str(path),
        signatures={"serving_default": module.search, "search": module.search},
        options=tf.saved_model.SaveOptions(namespace_whitelist=["Scann"]),
    )


def load_scann_savedmodel(path: str | Path):
    """Load `<index>/savedmodel` (registers ScaNN's ops first).

    Args:
        path: the SavedModel directory.

    Returns:
        the loaded SavedModel (`.signatures["search"](embedding=..., k=...)`).

    Example:
    ```python
    sm = load_scann_savedmodel("runs/quickstart/index/savedmodel")
    out = sm.signatures["search"](embedding=tf.constant(queries), k=tf.constant(5))
    ```
    """
    # deferred: scann is a heavy dependency (imported here to register its ops)
    from scann import scann_ops  # noqa: F401

    return tf.saved_model.load(str(path))
