"""The device index: item embeddings held on the TensorFlow device (the GPU when TensorFlow
sees one), searched by a matmul and `tf.math.top_k` (kind `exact`) or `tf.math.approx_max_k`
with the config's recall target (kind `approx_max_k`), optionally stored in bfloat16 or float16.

It has `ItemIndex`'s interface (`build`, `search_positions`, `search`, `recall`, `add`, `save`,
`load`, `embeddings`, `item_ids`, `params`), so the stages, the export and the benches take
either. It searches through `tfrec.index.device_graph` (stock TensorFlow ops), the same function
the exported `retrieval` signature runs, so in-process and exported results are the same items.

On CPU `approx_max_k` computes the exact top-k (the op is optimized on TPU only; measured here:
recall 1.0), so the kind is meant for accelerators; its recall against exact search is measured
when it is built, like ScaNN's.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfrec.config import IndexConfig
from tfrec.core.log import echo
from tfrec.index.device_graph import DeviceSearchModule, save_device_savedmodel
from tfrec.index.exact import exact_top_k, synthetic_queries
from tfrec.index.files import write_index_dir
from tfrec.index.params import DEVICE_MODES, RECALL_K, IndexParams
from tfrec.index.rows import IndexRows

# the most scores one search call holds ([queries, items]); larger query sets are chunked
MAX_SCORES = 1 << 24


class DeviceIndex(IndexRows):
    """Item embeddings on the TensorFlow device, searched exactly or with `approx_max_k`.

    Args:
        embeddings: `[N, D]` float32 item embeddings, row i is `item_ids[i]` (kept in float32
            here; the device table holds them as `params.dtype`).
        item_ids: N unique item ids.
        params: `IndexParams` with mode `exact` or `approx_max_k`.

    Example:
    ```python
    cfg = IndexConfig(kind="approx_max_k", dtype="bfloat16")
    index = DeviceIndex.build(embeddings, item_ids, cfg, queries=query_embeddings)
    ids, scores = index.search(query_embeddings[:2], k=10)
    index.save("runs/quickstart/index")
    ```
    """

    def __init__(self, embeddings: np.ndarray, item_ids: list[str], params: IndexParams):
        if params.mode not in DEVICE_MODES:
            raise ValueError(f"a DeviceIndex has mode {DEVICE_MODES}. Received: {params.mode!r}")
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.item_ids = list(item_ids)
        self.params = params
        self._module: DeviceSearchModule | None = None

    # --- building --------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        embeddings: np.ndarray,
        item_ids: list[str],
        cfg: IndexConfig,
        queries: np.ndarray | None = None,
        mode: str = "approx_max_k",
    ) -> DeviceIndex:
        """Build the index and measure its recall@10 against exact float32 search (and, for a
        16-bit `cfg.dtype`, the recall of the same kind in float32, so the loss is known).

        Args:
            embeddings: `[N, D]` float32 item embeddings.
            item_ids: N unique item ids.
            cfg: the `index` section (`dtype`, `target_recall` = approx_max_k's recall target,
                `num_neighbors`, `eval_queries`, `seed`).
            queries: `[B, D]` queries recall is measured on (None or empty: `synthetic_queries`).
            mode: `"approx_max_k"` or `"exact"`.

        Returns:
            the built `DeviceIndex`; `params.recall_at_10` holds the measured recall.

        Example:
        ```python
        index = DeviceIndex.build(emb, ids, IndexConfig(target_recall=0.95), mode="approx_max_k")
        ```
        """
        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or len(embeddings) != len(item_ids) or len(item_ids) == 0:
            raise ValueError(
                f"embeddings must be [N, D] with N = len(item_ids) = {len(item_ids)} >= 1. "
                f"Received: shape {embeddings.shape}"
            )
        if len(set(item_ids)) != len(item_ids):
            raise ValueError("item_ids must be unique")
        params = IndexParams(
            mode=mode,
            num_neighbors=cfg.num_neighbors,
            dtype=cfg.dtype,
            recall_target=cfg.target_recall if mode == "approx_max_k" else None,
        )
        t0 = time.time()
        index = cls(embeddings, item_ids, params)
        if queries is None or len(queries) == 0:
            queries = synthetic_queries(embeddings, cfg.eval_queries, cfg.seed)
        queries = np.asarray(queries[: cfg.eval_queries], dtype=np.float32)
        exact = exact_top_k(embeddings, queries, RECALL_K)
        params.recall_at_10 = index.recall(queries, exact)
        loss = ""
        if params.dtype != "float32":
            wide = cls(embeddings, item_ids, replace(params, dtype="float32"))
            params.recall_at_10_float32 = wide.recall(queries, exact)
            loss = (
                f" ({params.dtype}; float32 {params.recall_at_10_float32:.4f}, loss "
                f"{params.recall_at_10_float32 - params.recall_at_10:.4f})"
            )
        target = f", recall_target {params.recall_target}" if mode == "approx_max_k" else ""
        echo(
            f"[index] {mode} on {index.device} over {len(embeddings)} items (dim "
            f"{embeddings.shape[1]}, {params.dtype}{target}): recall@10 vs exact float32 "
            f"{params.recall_at_10:.4f}{loss} on {len(queries)} queries; built in "
            f"{time.time() - t0:.1f} s"
        )
        if mode == "approx_max_k" and params.recall_at_10 < cfg.target_recall:
            echo(
                f"[index] recall@10 {params.recall_at_10:.4f} is below index.target_recall "
                f"{cfg.target_recall} on these queries"
                + (" (float32 embeddings keep more of it)" if loss else "")
            )
        return index

    # --- searching -------------------------------------------------------------------------

    @property
    def module(self) -> DeviceSearchModule:
        """The `DeviceSearchModule` holding the table on the device (made on first use)."""
        if self._module is None:
            self._module = DeviceSearchModule(self.embeddings, self.item_ids, self.params)
        return self._module

    @property
    def device(self) -> str:
        """The device the embeddings table lives on (e.g. `/job:localhost/.../GPU:0`)."""
        return self.module.table.device.rpartition("device:")[2] or "CPU:0"

    def search_positions(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Row positions [B, k] and scores [B, k] of the top-k items of each query."""
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        k = int(min(k, len(self)))
        if k < 1:
            raise ValueError(f"`k` must be >= 1. Received: k={k}")
        if queries.shape[1:] != self.embeddings.shape[1:]:
            raise ValueError(
                f"queries must be [B, {self.embeddings.shape[1]}]. Received: {queries.shape}"
            )
        rows = max(1, MAX_SCORES // max(len(self), 1))
        positions, scores = [], []
        for start in range(0, len(queries), rows):
            p, s = self.module.search_positions(
                tf.constant(queries[start : start + rows]), tf.constant(k, tf.int32)
            )
            positions.append(p.numpy().astype(np.int64))
            scores.append(s.numpy())
        if not positions:
            return np.zeros((0, k), np.int64), np.zeros((0, k), np.float32)
        return np.concatenate(positions), np.concatenate(scores)

    # --- cold start ------------------------------------------------------------------------

    def add(self, item_ids: list[str], embeddings: np.ndarray) -> int:
        """Insert new items (or update existing ones); returns how many were new. The device
        table is rebuilt from the updated rows on the next search."""
        embeddings, new = self._upsert_rows(item_ids, embeddings)
        self._module = None
        return new

    # --- saving ----------------------------------------------------------------------------

    def save(self, directory: str | Path, savedmodel: bool = True) -> Path:
        """Write `embeddings.npy` (float32), `item_ids.json`, `params.json` and (optionally)
        `savedmodel/` (stock ops, signature `search`), all at once (`write_index_dir`)."""

        def write(tmp: Path) -> None:
            np.save(tmp / "embeddings.npy", self.embeddings)
            (tmp / "item_ids.json").write_text(json.dumps(self.item_ids))
            (tmp / "params.json").write_text(json.dumps(asdict(self.params), indent=2))
            if savedmodel:
                save_device_savedmodel(self.module, tmp / "savedmodel")

        return write_index_dir(directory, write)

    @classmethod
    def load(cls, directory: str | Path) -> DeviceIndex:
        """Load an index written by `save`."""
        directory = Path(directory)
        params = IndexParams(**json.loads((directory / "params.json").read_text()))
        item_ids = json.loads((directory / "item_ids.json").read_text())
        embeddings = np.load(directory / "embeddings.npy")
        if len(embeddings) != len(item_ids):
            raise ValueError(
                f"{directory}: embeddings.npy has {len(embeddings)} rows and item_ids.json "
                f"{len(item_ids)} ids"
            )
        return cls(embeddings, item_ids, params)
