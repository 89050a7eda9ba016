"""Which index a run gets (`index.kind`) and one way to build or load any kind.

`resolve_kind` turns `auto` into a kind by the hardware TensorFlow sees and the catalog size:

- a GPU or TPU is visible (`tf.config.list_physical_devices`): `exact` (matmul + `top_k`
  on the device) below `index.brute_force_below` items, `approx_max_k` from there;
- no accelerator: `scann` (ScaNN's tree + AH, itself exact below `brute_force_below`).

`build_item_index` builds the resolved kind (`ItemIndex` for ScaNN, `DeviceIndex` for the
device kinds), `load_item_index` loads whichever kind a directory holds (its `params.json`
says), and `index_matches_config` tells whether a saved index is of the kind the config asks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfrec.config import IndexConfig
from tfrec.core.log import echo
from tfrec.index.device_index import DeviceIndex
from tfrec.index.params import DEVICE_MODES, IndexParams
from tfrec.index.scann_index import ItemIndex

KINDS = ("scann", *DEVICE_MODES)


def accelerators() -> list[str]:
    """The accelerator device types TensorFlow sees (`"GPU"`, `"TPU"`), empty on CPU only.

    Example:
    ```python
    accelerators()  # [] on a CPU machine, ["GPU"] with one GPU
    ```
    """
    return sorted(
        {
            d.device_type
            for d in tf.config.list_physical_devices()
            if d.device_type in ("GPU", "TPU")
        }
    )


def resolve_kind(cfg: IndexConfig, num_items: int, devices: list[str] | None = None) -> str:
    """The index kind to build: `cfg.kind`, or for `auto` the rule of the module doc.

    Args:
        cfg: the `index` section.
        num_items: the catalog size.
        devices: the accelerator types present (None: `accelerators()`).

    Returns:
        `"scann"`, `"exact"` or `"approx_max_k"`.

    Example:
    ```python
    resolve_kind(IndexConfig(), 1_000_000, devices=[])  # "scann"
    resolve_kind(IndexConfig(), 1_000_000, devices=["GPU"])  # "approx_max_k"
    resolve_kind(IndexConfig(), 5_000, devices=["GPU"])  # "exact"
    ```
    """
    if cfg.kind != "auto":
        return cfg.kind
    devices = accelerators() if devices is None else devices
    if not devices:
        return "scann"
    return "exact" if num_items < cfg.brute_force_below else "approx_max_k"


def build_item_index(
    embeddings: np.ndarray,
    item_ids: list[str],
    cfg: IndexConfig,
    queries: np.ndarray | None = None,
    kind: str | None = None,
) -> ItemIndex | DeviceIndex:
    """Build the index of the configured kind (recall@10 measured on `queries`).

    Args:
        embeddings: `[N, D]` float32 item embeddings.
        item_ids: N unique item ids.
        cfg: the `index` section.
        queries: `[B, D]` queries recall is measured on (None: queries near catalog items).
        kind: the kind to build (None: `resolve_kind(cfg, N)`).

    Returns:
        an `ItemIndex` (scann) or a `DeviceIndex` (exact, approx_max_k).

    Raises:
        ValueError: `index.kind: scann` with a 16-bit `index.dtype` (ScaNN indexes float32).

    Example:
    ```python
    index = build_item_index(emb, ids, IndexConfig(kind="approx_max_k"), queries)
    ```
    """
    kind = kind or resolve_kind(cfg, len(item_ids))
    if kind in DEVICE_MODES:
        return DeviceIndex.build(embeddings, item_ids, cfg, queries, mode=kind)
    if kind != "scann":
        raise ValueError(f"index.kind must be one of auto, {', '.join(KINDS)}. Received: {kind!r}")
    if cfg.dtype != "float32":
        if cfg.kind == "scann":
            raise ValueError(
                f"index.dtype {cfg.dtype} applies to the exact and approx_max_k kinds; ScaNN "
                "(index.kind: scann) indexes float32: set index.dtype: float32 or another kind"
            )
        echo(f"[index] auto: no GPU/TPU, so ScaNN (float32); index.dtype {cfg.dtype} is not used")
    return ItemIndex.build(embeddings, item_ids, cfg, queries)


def load_item_index(directory: str | Path) -> ItemIndex | DeviceIndex:
    """Load the index saved in `directory`, of whichever kind its `params.json` names.

    Args:
        directory: the index directory (`RunDir.index`).

    Returns:
        an `ItemIndex` or a `DeviceIndex`.

    Raises:
        FileNotFoundError: no index there.

    Example:
    ```python
    index = load_item_index(run.index)
    ```
    """
    directory = Path(directory)
    path = directory / "params.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{directory} holds no index (no params.json): build it (`tfrec index build CONFIG`)"
        )
    if json.loads(path.read_text()).get("mode") in DEVICE_MODES:
        return DeviceIndex.load(directory)
    return ItemIndex.load(directory)


def index_matches_config(params: IndexParams, cfg: IndexConfig, num_items: int) -> bool:
    """Whether a saved index (its `params`) is of the kind, dtype and recall target the config
    asks for a catalog of `num_items`.

    Args:
        params: the saved index's parameters.
        cfg: the `index` section.
        num_items: the catalog size.

    Example:
    ```python
    index_matches_config(index.params, cfg.index, len(ids))  # False after a kind change
    ```
    """
    kind = resolve_kind(cfg, num_items)
    if kind == "scann":
        return params.mode in ("scann", "brute_force")
    if params.mode != kind or params.dtype != cfg.dtype:
        return False
    return kind == "exact" or params.recall_target == cfg.target_recall
