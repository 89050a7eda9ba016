"""The index of a run: the catalog embedded by the run's retrieval model, built and saved
(`build_index`), reused when it still matches the model (`index_for_run`), the run's real
queries recall is measured on (`run_query_embeddings`) and new items read for `tfrec index add`
(`read_new_items`). Loading the run's data and model is the caller's job (tfrec.stages)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.data import schema
from tfrec.data.datasets import retrieval_features
from tfrec.data.prepared import PreparedData
from tfrec.data.readers import read_table
from tfrec.data.report import DataReport, DataValidationError
from tfrec.data.validation import validate_items
from tfrec.index.device_index import DeviceIndex
from tfrec.index.kinds import build_item_index, index_matches_config, load_item_index
from tfrec.index.scann_index import ItemIndex


def run_query_embeddings(data: PreparedData, model, limit: int = 2000) -> np.ndarray:
    """Query-side embeddings of the run's held-out searches and feed users (real queries for
    measuring recall; cached query text, so no BERT forward).

    Args:
        data: the run's prepared data.
        model: the trained `RetrievalModel`.
        limit: at most this many queries (and rows read per split and frame).

    Returns:
        `[<= limit, D]` float32 query embeddings (`[0, 1]` when the run has no held-out rows).

    Example:
    ```python
    queries = run_query_embeddings(data, model, cfg.index.eval_queries)
    ```
    """
    out = []
    for split in ("val", "test"):
        for frame in (data.search_eval.get(split), data.feed_eval.get(split)):
            if frame is None or len(frame) == 0:
                continue
            feats = retrieval_features(data, frame.head(limit))
            feats.pop("query")
            out.append(model.query_embeddings(feats).numpy())
    return np.concatenate(out)[:limit] if out else np.zeros((0, 1), np.float32)


def build_index(cfg: Config, data: PreparedData, model, path: Path) -> ItemIndex | DeviceIndex:
    """Embed the catalog with `model`, build the index of the configured kind (recall measured
    on the run's queries) and save it to `path`.

    Args:
        cfg: the run's config (`cfg.index` holds the index kind and parameters).
        data: the run's prepared data (its catalog is indexed, without the padding item 0).
        model: the trained `RetrievalModel`.
        path: the index directory (`RunDir.index`).

    Returns:
        the built and saved `ItemIndex` (scann) or `DeviceIndex` (exact, approx_max_k).

    Example:
    ```python
    index = build_index(cfg, data, model, run.index)
    ```
    """
    embeddings = model.all_item_embeddings()[1:]
    queries = run_query_embeddings(data, model, cfg.index.eval_queries)
    index = build_item_index(
        embeddings, data.catalog.item_ids[1:], cfg.index, queries if len(queries) else None
    )
    path = index.save(path)
    if isinstance(index, DeviceIndex):
        echo(f"[index] saved to {path} ({index.params.mode}; savedmodel/ stock TensorFlow ops)")
    else:
        echo(f"[index] saved to {path} (scann/ pybind serialization, savedmodel/ ScaNN ops)")
    return index


def index_for_run(cfg: Config, run: RunDir, data: PreparedData, model) -> ItemIndex | DeviceIndex:
    """The run's saved index when it matches the model and the config, else a freshly built
    one (saved).

    The saved index matches when it is of the kind (and dtype, recall target) `cfg.index` asks
    for, has the model's embedding size, holds every catalog item and stores this model's
    vectors (not those of weights trained before).

    Args:
        cfg: the run's config.
        run: the run directory (`run.index` is read, and written on a rebuild).
        data: the run's prepared data.
        model: the trained `RetrievalModel`.

    Returns:
        the `ItemIndex` or `DeviceIndex` of the run.

    Example:
    ```python
    index = index_for_run(cfg, RunDir(cfg.run_path), data, model)
    ```
    """
    path = run.index
    if (path / "params.json").exists():
        index = load_item_index(path)
        dim = int(model.item_tower.output_dim)
        ids = data.catalog.item_ids[1:]
        if not index_matches_config(index.params, cfg.index, len(ids)):
            echo(
                f"[index] {path} is a {index.params.mode} index, not the configured kind; rebuilding"
            )
        elif index.embeddings.shape[1] == dim and set(ids) <= set(index.item_ids):
            # the index must hold this model's vectors, not those of weights trained before
            position = {item: i for i, item in enumerate(index.item_ids)}
            stored = index.embeddings[[position[item] for item in ids]]
            if np.allclose(stored, model.all_item_embeddings()[1:], atol=1e-5):
                echo(f"[index] using {path} ({len(index)} items)")
                return index
            echo(f"[index] {path} holds vectors of other model weights; rebuilding")
        else:
            echo(f"[index] {path} does not match the model's catalog or size; rebuilding")
    return build_index(cfg, data, model, path)


def read_new_items(cfg: Config, path: str | Path) -> pd.DataFrame:
    """New items in the data contract (CSV, Parquet or JSON Lines), validated.

    Args:
        cfg: the run's config (`cfg.data` holds the validation rules and extra features).
        path: the file of new items.

    Returns:
        the clean item rows (index reset).

    Raises:
        DataValidationError: when a row breaks the contract (the message names the file).

    Example:
    ```python
    items = read_new_items(cfg, "new_items.csv")
    ```
    """
    report = DataReport()
    frame = read_table(Path(path), schema.ITEMS, report=report)
    clean, violations = validate_items(frame, str(path), cfg.data, report)
    if violations:
        raise DataValidationError(violations)
    return clean.reset_index(drop=True)
