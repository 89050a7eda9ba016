"""The parameters of an item index, chosen from the catalog size, and their ScaNN text config.

- below `brute_force_below` items the index is exact (ScaNN brute force, float32);
- otherwise a k-means tree of about sqrt(N) leaves, asymmetric hashing (AH) with
  `dims_per_block` dimensions per 4-bit code and the anisotropic loss, and exact re-scoring of
  the best `reorder` AH candidates (`ItemIndex.build` then searches `leaves_to_search` and
  `reorder` both ways for the cheapest setting whose measured recall@10 meets the target).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tfrec.config import IndexConfig

RECALL_K = 10
# the index kinds whose embeddings live on the TensorFlow device (GPU/TPU when there is one)
# and whose search is stock TensorFlow ops (tfrec.index.device_graph)
DEVICE_MODES = ("exact", "approx_max_k")


@dataclass
class IndexParams:
    """The parameters of one built index (written to `params.json`).

    Args:
        mode: `"scann"` (tree + AH + reorder) or `"brute_force"` (exact), both ScaNN; or a
            device kind (`DEVICE_MODES`): `"exact"` (matmul + top_k) or `"approx_max_k"`.
        num_neighbors: neighbours a search returns by default.
        num_leaves: k-means leaves of the tree (scann mode).
        leaves_to_search: leaves searched per query (tuned for the target recall).
        dims_per_block: dimensions per 4-bit AH code.
        anisotropic_threshold: the anisotropic quantization threshold of AH.
        reorder: AH candidates re-scored exactly.
        training_sample_size: points the tree is trained on.
        recall_at_10: recall@10 against brute force measured when built.
        dtype: the stored embeddings of a device kind (`float32`, `bfloat16`, `float16`).
        recall_target: the `recall_target` of `tf.math.approx_max_k` (approx_max_k only).
        recall_at_10_float32: a device kind stored in 16 bits: its recall@10 with float32
            embeddings, measured on the same queries (the loss is the difference).

    Example:
    ```python
    params = IndexParams(mode="brute_force", num_neighbors=100)
    asdict(params)["mode"]  # "brute_force"
    ```
    """

    mode: str  # "scann" or "brute_force" (ScaNN), "exact" or "approx_max_k" (device)
    num_neighbors: int
    num_leaves: int = 0
    leaves_to_search: int = 0
    dims_per_block: int = 2
    anisotropic_threshold: float = 0.2
    reorder: int = 0
    training_sample_size: int = 0
    recall_at_10: float | None = None
    dtype: str = "float32"
    recall_target: float | None = None
    recall_at_10_float32: float | None = None


def choose_params(num_items: int, cfg: IndexConfig) -> IndexParams:
    """Initial parameters for a catalog of `num_items` (leaves_to_search is tuned afterwards).

    Args:
        num_items: the catalog size (>= 1).
        cfg: the `index` section of the config.

    Returns:
        `IndexParams`: brute force below `cfg.brute_force_below` (or 20) items, else a tree of
        about sqrt(num_items) leaves with AH and reordering.

    Example:
    ```python
    choose_params(999, IndexConfig(brute_force_below=1000)).mode  # "brute_force"
    choose_params(1_000_000, IndexConfig()).num_leaves  # 1000
    ```
    """
    if num_items < 1:
        raise ValueError(f"an index needs at least one item. Received: num_items={num_items}")
    if num_items < max(cfg.brute_force_below, 2 * RECALL_K):
        return IndexParams(mode="brute_force", num_neighbors=cfg.num_neighbors)
    num_leaves = int(max(2, round(math.sqrt(num_items))))
    reorder = cfg.reorder or max(4 * cfg.num_neighbors, 200)
    return IndexParams(
        mode="scann",
        num_neighbors=cfg.num_neighbors,
        num_leaves=num_leaves,
        leaves_to_search=max(1, num_leaves // 50),
        dims_per_block=cfg.dims_per_block,
        anisotropic_threshold=cfg.anisotropic_threshold,
        reorder=min(reorder, num_items),
        training_sample_size=min(num_items, 250_000),
    )


def scann_config_text(embeddings: np.ndarray, params: IndexParams) -> str:
    """The ScaNN text config for `params` (dot product on L2-normalised embeddings).

    Args:
        embeddings: `[N, D]` float32, the items to index.
        params: the index parameters (`choose_params`).

    Returns:
        The text config `scann_ops_pybind.create_searcher` takes.

    Example:
    ```python
    config = scann_config_text(embeddings, choose_params(len(embeddings), cfg.index))
    searcher = scann_ops_pybind.create_searcher(embeddings, config)
    ```
    """
    # deferred: scann is a heavy dependency, loaded only when an index is built
    from scann.scann_ops.py import scann_ops_pybind

    b = scann_ops_pybind.builder(embeddings, params.num_neighbors, "dot_product")
    if params.mode == "brute_force":
        return b.score_brute_force().create_config()
    b = b.tree(
        num_leaves=params.num_leaves,
        num_leaves_to_search=params.leaves_to_search,
        training_sample_size=params.training_sample_size,
    )
    b = b.score_ah(
        params.dims_per_block, anisotropic_quantization_threshold=params.anisotropic_threshold
    )
    return b.reorder(params.reorder).create_config()
