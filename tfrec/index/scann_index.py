"""The item index: ScaNN (tree + asymmetric hashing + exact reordering) or exact search over
item embeddings with string ids.

`ItemIndex.build(embeddings, item_ids, cfg.index, queries)` chooses the parameters from the
catalog size and the target recall (`tfrec.index.params`), then searches `leaves_to_search`
(and `reorder`) both ways for the cheapest setting whose measured recall@10 against brute force
(on the given queries) reaches `target_recall` (`tfrec.index.search_tuner`).

The index is a `scann_ops_pybind` searcher with string docids, so items are added later without
retraining anything (`add`, ScaNN's incremental upsert). It is saved two ways from the same
artifacts: `scann_ops_pybind` serialization (`<dir>/scann/`) and a SavedModel whose graph runs
ScaNN's TensorFlow ops (`<dir>/savedmodel/`, `tfrec.index.scann_graph`). `scann_module()`
rebuilds the in-graph searcher from the serialized artifacts, so the exported searcher returns
exactly what the Python one returns.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from tfrec.config import IndexConfig
from tfrec.core.log import echo
from tfrec.index.exact import exact_top_k, synthetic_queries
from tfrec.index.files import write_index_dir
from tfrec.index.params import RECALL_K, IndexParams, choose_params, scann_config_text
from tfrec.index.rows import IndexRows
from tfrec.index.scann_graph import save_scann_savedmodel, scann_state_from_artifacts
from tfrec.index.search_tuner import tune_search


class ItemIndex(IndexRows):
    """A searchable set of item embeddings with string ids.

    Args:
        searcher: a `scann_ops_pybind.ScannSearcher` built with docids.
        embeddings: np.ndarray [N, D] float32, row i is the embedding of `item_ids[i]`.
        item_ids: list of str [N].
        params: IndexParams.

    Example:
    ```python
    index = ItemIndex.build(embeddings, item_ids, IndexConfig(), queries=query_embeddings)
    ids, scores = index.search(query_embeddings[:2], k=10)
    index.save("runs/quickstart/index")
    ```
    """

    def __init__(self, searcher, embeddings: np.ndarray, item_ids: list[str], params: IndexParams):
        self.searcher = searcher
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.item_ids = list(item_ids)
        self.params = params

    # --- building --------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        embeddings: np.ndarray,
        item_ids: list[str],
        cfg: IndexConfig,
        queries: np.ndarray | None = None,
    ) -> ItemIndex:
        """Build the index and choose the fewest leaves to search (then the fewest re-scored
        candidates) with recall@10 >= `cfg.target_recall` (`tune_search`).

        Args:
            embeddings: `[N, D]` float32 item embeddings (L2-normalised).
            item_ids: N unique item ids, row i of `embeddings` is `item_ids[i]`.
            cfg: the `index` section of the config.
            queries: `[B, D]` query embeddings recall is measured on (None or empty: queries
                near catalog items, `synthetic_queries`).

        Returns:
            the built `ItemIndex`; `index.params.recall_at_10` holds the measured recall.

        Example:
        ```python
        index = ItemIndex.build(embeddings, item_ids, IndexConfig(target_recall=0.95))
        ```
        """
        # deferred: scann is a heavy dependency, loaded only when an index is built
        from scann.scann_ops.py import scann_ops_pybind

        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or len(embeddings) != len(item_ids):
            raise ValueError(
                f"embeddings must be [N, D] with N = len(item_ids) = {len(item_ids)}. "
                f"Received: shape {embeddings.shape}"
            )
        if len(set(item_ids)) != len(item_ids):
            raise ValueError("item_ids must be unique")
        params = choose_params(len(embeddings), cfg)
        t0 = time.time()
        searcher = scann_ops_pybind.create_searcher(
            embeddings, scann_config_text(embeddings, params), docids=[str(i) for i in item_ids]
        )
        index = cls(searcher, embeddings, item_ids, params)
        if queries is None or len(queries) == 0:
            queries = synthetic_queries(embeddings, cfg.eval_queries, cfg.seed)
        queries = np.asarray(queries[: cfg.eval_queries], dtype=np.float32)
        exact = exact_top_k(embeddings, queries, RECALL_K)
        if params.mode == "scann":
            recall = tune_search(
                index, queries, exact, cfg.target_recall, tune_reorder=cfg.reorder == 0
            ).recall_at_10
        else:
            recall = index.recall(queries, exact)
        params.recall_at_10 = recall
        echo(
            f"[index] {params.mode} over {len(embeddings)} items (dim {embeddings.shape[1]}): "
            + (
                f"{params.num_leaves} leaves, {params.leaves_to_search} searched, AH "
                f"{params.dims_per_block} dims/block, reorder {params.reorder}; "
                if params.mode == "scann"
                else ""
            )
            + f"recall@10 vs brute force {recall:.4f} on {len(queries)} queries "
            f"(target {cfg.target_recall}); built in {time.time() - t0:.1f} s"
        )
        return index

    # --- searching -------------------------------------------------------------------------

    def search_positions(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Row positions [B, k] and scores [B, k] of the top-k items of each query."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = int(min(k, len(self)))
        if k < 1:
            raise ValueError(f"`k` must be >= 1. Received: k={k}")
        kwargs = {"final_num_neighbors": k}
        if self.params.mode == "scann":
            kwargs["leaves_to_search"] = self.params.leaves_to_search
            kwargs["pre_reorder_num_neighbors"] = max(self.params.reorder, k)
        ids, scores = self.searcher.search_batched(queries, **kwargs)
        positions = np.array(
            [[self.searcher.docid_to_id[d] for d in row] for row in ids], dtype=np.int64
        ).reshape(len(queries), -1)
        return positions, np.asarray(scores, dtype=np.float32).reshape(len(queries), -1)

    # --- cold start ------------------------------------------------------------------------

    def add(self, item_ids: list[str], embeddings: np.ndarray) -> int:
        """Insert new items (or update existing ones) without rebuilding; returns how many
        were new. Uses ScaNN's incremental upsert."""
        embeddings, new = self._upsert_rows(item_ids, embeddings)
        self.searcher.upsert([str(i) for i in item_ids], embeddings)
        return new

    # --- saving ----------------------------------------------------------------------------

    def save(self, directory: str | Path, savedmodel: bool = True) -> Path:
        """Write `scann/` (pybind serialization), `item_ids.json`, `embeddings.npy`,
        `params.json` and (optionally) `savedmodel/` (ScaNN TF ops). Written to a temporary
        directory first and swapped in, so a crash never leaves a half-written index."""

        def write(tmp: Path) -> None:
            (tmp / "scann").mkdir()
            self.searcher.serialize(str(tmp / "scann"), relative_path=True)
            np.save(tmp / "embeddings.npy", self.embeddings)
            (tmp / "item_ids.json").write_text(json.dumps(self.item_ids))
            (tmp / "params.json").write_text(json.dumps(asdict(self.params), indent=2))
            if savedmodel:
                save_scann_savedmodel(self, tmp / "savedmodel")

        return write_index_dir(directory, write)

    @classmethod
    def load(cls, directory: str | Path) -> ItemIndex:
        """Load an index written by `save` (through `scann_ops_pybind.load_searcher`)."""

        directory = Path(directory)
        if not (directory / "scann" / "scann_assets.pbtxt").is_file():
            raise FileNotFoundError(
                f"{directory / 'scann'} holds no ScaNN index: build it (`tfrec index build CONFIG`)"
            )
        params = IndexParams(**json.loads((directory / "params.json").read_text()))
        item_ids = json.loads((directory / "item_ids.json").read_text())
        embeddings = np.load(directory / "embeddings.npy")
        searcher = _load_searcher(directory / "scann")
        if searcher.docids != [str(i) for i in item_ids]:
            raise ValueError(f"{directory}: scann docids and item_ids.json disagree")
        return cls(searcher, embeddings, item_ids, params)

    def scann_module(self):
        """A `tf.Module` (`scann_ops.ScannState`) holding this exact index for in-graph search."""
        with tempfile.TemporaryDirectory() as tmp:
            self.searcher.serialize(tmp, relative_path=True)
            return scann_state_from_artifacts(Path(tmp))


def _load_searcher(path: Path):
    """`scann_ops_pybind.load_searcher` on a directory saved with relative asset paths."""
    # deferred: scann is a heavy dependency, loaded only when an index is loaded
    from scann.scann_ops.py import scann_ops_pybind

    # relative asset paths resolve against the working directory; load from inside it
    cwd = os.getcwd()
    try:
        os.chdir(path)
        return scann_ops_pybind.load_searcher(".")
    finally:
        os.chdir(cwd)
