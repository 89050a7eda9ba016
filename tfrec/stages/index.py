"""The `index` stage and `tfrec index build|add|eval CONFIG`:

    tfrec index build CONFIG    embed the catalog, build the `index.kind` index, print recall@10
    tfrec index add CONFIG --items FILE    embed new items from their text and upsert them
    tfrec index eval CONFIG     recall@10 and queries/s against brute force

The index lives in `RunDir.index`; items added after training are kept in
`RunDir.added_items` (the server shows their titles).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.core.log import echo
from tfrec.export.serving_module import RetrievalServingModule, run_numeric_stats
from tfrec.index.device_index import DeviceIndex
from tfrec.index.exact import compare_with_brute_force, synthetic_queries
from tfrec.index.for_run import build_index, index_for_run, read_new_items, run_query_embeddings
from tfrec.index.kinds import load_item_index
from tfrec.index.scann_index import ItemIndex
from tfrec.stages.artifacts import RunArtifacts
from tfrec.text.frozen import make_text_encoder


def run_index(art: RunArtifacts) -> ItemIndex | DeviceIndex:
    """The `index` stage (`tfrec index build CONFIG`): embed the catalog with the run's model,
    build the index and save it to `run.index`.

    Args:
        art: the run's artifacts (its data and trained retrieval model).

    Returns:
        the built `ItemIndex` (scann) or `DeviceIndex` (exact, approx_max_k).

    Example:
    ```python
    index = run_index(RunArtifacts(cfg, RunDir(cfg.run_path)))
    ```
    """
    return build_index(art.cfg, art.data(), art.retrieval_model(), art.run.index)


def add_items(
    art: RunArtifacts, items_path: str | Path, items: pd.DataFrame | None = None
) -> ItemIndex | DeviceIndex:
    """Cold start (`tfrec index add CONFIG --items FILE`): embed new items from their text and
    features with the trained item tower (no retraining) and upsert them into the run's index.
    Added items are kept in `run.added_items` (the server shows their titles).

    Args:
        art: the run's artifacts (its data and trained retrieval model).
        items_path: new items in the data contract (CSV, Parquet or JSON Lines).
        items: the new items, already read and validated from `items_path` (the live-item
            journal, `tfrec.stages.item_journal`); None reads `items_path`.

    Returns:
        the updated (and saved) index.

    Raises:
        DataValidationError: when a new item breaks the contract (the message names the file).

    Example:
    ```python
    index = add_items(RunArtifacts(cfg, RunDir(cfg.run_path)), "new_items.csv")
    ```
    """
    cfg, run = art.cfg, art.run
    items = read_new_items(cfg, items_path) if items is None else items
    data = art.data()
    model = art.retrieval_model()
    model.attach_text_encoder(make_text_encoder(cfg, mode="frozen"))
    index = index_for_run(cfg, run, data, model)
    module = RetrievalServingModule(
        model, data, index, max_k=1, use_scann=False, numeric_stats=run_numeric_stats(run, data)
    )
    embeddings = item_embeddings_from_features(module, items)
    t0 = time.time()
    new = index.add(items["item_id"].astype(str).tolist(), embeddings)
    how = "ScaNN upsert" if isinstance(index, ItemIndex) else f"{index.params.mode} rows appended"
    echo(
        f"[index] added {new} new and updated {len(items) - new} items from {items_path} "
        f"in {time.time() - t0:.2f} s ({how}); index now holds {len(index)} items"
    )
    # read before saving: the save swaps the whole index directory in
    if run.added_items.exists():
        old = pd.read_parquet(run.added_items)
        items = pd.concat([old[~old.item_id.isin(items.item_id)], items], ignore_index=True)
    index.save(run.index)
    items.to_parquet(run.added_items, index=False)
    return index


def item_embeddings_from_features(module: RetrievalServingModule, items) -> np.ndarray:
    """Item-tower embeddings of contract item rows through the export's `item_encoder`
    (config-declared extra features from their columns; a missing column means unknown).

    Args:
        module: the `RetrievalServingModule` of the run's model.
        items: a DataFrame of contract item rows (`item_id`, `title`, ... and extra features).

    Returns:
        `[len(items), D]` float32 embeddings.

    Example:
    ```python
    embeddings = item_embeddings_from_features(module, read_new_items(cfg, "new.csv"))
    ```
    """

    def col(name, default=""):
        if name not in items:
            return tf.constant([default] * len(items))
        return tf.constant(items[name].fillna(default).astype(str).tolist())

    def number(name):
        if name not in items:
            return np.full(len(items), np.nan, np.float32)
        return pd.to_numeric(items[name], errors="coerce").to_numpy(np.float32)

    price = number("price")
    extras = [
        tf.constant(number(e.column)) if e.kind == "numeric" else col(e.column)
        for e in module.extra_inputs
    ]
    out = []
    for start in range(0, len(items), 256):
        part = slice(start, start + 256)
        res = module.item_encoder(
            col("item_id")[part],
            col("title")[part],
            col("description")[part],
            col("category")[part],
            col("brand")[part],
            tf.constant(price[part]),
            *[x[part] for x in extras],
        )
        out.append(res["embedding"].numpy())
    return np.concatenate(out) if out else np.zeros((0, module.embedding_dim), np.float32)


def eval_index(art: RunArtifacts) -> dict:
    """`tfrec index eval CONFIG`: recall@10 and queries/s of the run's index against exact
    search on the run's queries (queries near catalog items when it has none).

    Args:
        art: the run's artifacts (its data and trained retrieval model).

    Returns:
        `{"recall_at_10", "index_qps", "brute_force_qps", "speedup"}`.

    Example:
    ```python
    res = eval_index(RunArtifacts(cfg, RunDir(cfg.run_path)))
    ```
    """
    cfg = art.cfg
    index = load_item_index(art.run.index)
    queries = run_query_embeddings(art.data(), art.retrieval_model(), cfg.index.eval_queries)
    if len(queries) == 0:
        queries = synthetic_queries(index.embeddings, cfg.index.eval_queries, cfg.index.seed)
    res = compare_with_brute_force(index, queries)
    echo(
        f"[index] {index.params.mode}, {len(index)} items, {len(queries)} queries: recall@10 "
        f"{res['recall_at_10']:.4f}; {res['index_qps']:.0f} queries/s vs brute force "
        f"{res['brute_force_qps']:.0f} queries/s (x{res['speedup']:.2f})"
    )
    return res
