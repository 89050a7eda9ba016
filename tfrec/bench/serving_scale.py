"""A large synthetic catalog for the serving bench, grown from a trained run.

`scale_run(base, items)` writes `<base>_serving_<items>/`: the base run's data, models and
config, plus `items - catalog` synthetic items added after training. Each synthetic item is a
variant of a random catalog item (its title, description, category and brand; its price times
a factor in [0.8, 1.25]) whose index vector is the parent's plus Gaussian noise (`noise` per
dimension, same length as the parent's), so the index holds `items` distinct vectors in
clusters around the trained ones. The vectors are made here, not by the item tower: embedding
a million titles with BERT would take hours on a CPU, and the serving path only reads the
index and the rows (`index/added_items.parquet`, as `tfrec index add` leaves them). Then a
ScaNN index is built over all of them (tuned to `index.target_recall` on the run's queries)
and the run is exported (`tfrec`, `tfrec_scann` and, when the base run has one, the ranker), so
`tfrec serve` serves the whole catalog: /search through the index, the shop context with every
item. A finished scale run is reused (`scale.json` names what it holds).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tfrec.config import load_config, save_config
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.export.ranker import export_ranker, ranker_skip_reason
from tfrec.export.retrieval import export_model
from tfrec.index.for_run import run_query_embeddings
from tfrec.index.kinds import load_item_index
from tfrec.index.scann_index import ItemIndex
from tfrec.stages.artifacts import RunArtifacts

MARKER = "scale.json"
# what a scale run is built from (copied); export/, index/ and reports are made anew
COPIED = ("config.yaml", "data", "retrieval", "ranking")


def synthetic_variants(
    items: pd.DataFrame, vectors: np.ndarray, ids: list[str], n: int, noise: float, seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """`n` variants of random catalog items: rows (contract columns) and index vectors.

    Args:
        items: the base run's clean item rows, indexed by `item_id`.
        vectors: `[M, D]` the base index's vectors; row i belongs to `ids[i]`.
        ids: the base index's item ids.
        n: variants to make.
        noise: standard deviation of the Gaussian noise added per dimension.
        seed: int. The generator's seed.

    Returns:
        (rows with `item_id` `<parent>-s<i>`, `[n, D]` float32 vectors).

    Example:
    ```python
    rows, vecs = synthetic_variants(items, index.embeddings, index.item_ids, 1000, 0.05, 0)
    ```
    """
    rng = np.random.default_rng(seed)
    parent = rng.integers(0, len(ids), n)
    base = vectors[parent]
    noisy = base + rng.normal(0.0, noise, base.shape).astype(np.float32)
    scale = np.linalg.norm(base, axis=1, keepdims=True) / np.maximum(
        np.linalg.norm(noisy, axis=1, keepdims=True), 1e-12
    )
    parent_ids = [ids[p] for p in parent]
    rows = items.reindex(parent_ids).reset_index(drop=True)
    rows.insert(0, "item_id", [f"{p}-s{i:07d}" for i, p in enumerate(parent_ids)])
    if "price" in rows:
        price = pd.to_numeric(rows["price"], errors="coerce")
        rows["price"] = (price * rng.uniform(0.8, 1.25, n)).round(2)
    return rows, (noisy * scale).astype(np.float32)


def scale_run(base_dir: Path, items: int, noise: float = 0.05, seed: int = 0) -> Path:
    """The base run grown to `items` items, built (or reused) next to it.

    Args:
        base_dir: a trained run with its index (and optionally a ranker).
        items: the catalog size to reach (at least the base catalog's).
        noise: per-dimension noise of the synthetic vectors. Defaults to 0.05.
        seed: int. Defaults to 0.

    Returns:
        the scale run's directory, exported and ready for `tfrec serve`.

    Example:
    ```python
    scale_run(Path("runs/quickstart"), 1_000_000)  # runs/quickstart_serving_1000000
    ```
    """
    base = RunDir(base_dir)
    target = RunDir(base.root.parent / f"{base.root.name}_serving_{items}")
    marker = target.root / MARKER
    want = {"base": str(base.root), "items": items, "noise": noise, "seed": seed}
    if marker.exists() and json.loads(marker.read_text()) == want:
        echo(f"[bench] reusing {target.root} ({items:,} items)")
        return target.root
    t0 = time.time()
    if target.root.exists():
        shutil.rmtree(target.root)
    target.root.mkdir(parents=True)
    for name in COPIED:
        src = base.root / name
        if src.is_dir():
            shutil.copytree(src, target.root / name)
        elif src.exists():
            shutil.copy2(src, target.root / name)
    cfg = load_config(target.config)
    cfg.run_dir = str(target.root)
    save_config(cfg, target.config)
    art = RunArtifacts(cfg, target)
    data, model = art.data(), art.retrieval_model()
    index = load_item_index(base.index)
    if items < len(index):
        raise ValueError(f"{items} items is fewer than the base run's {len(index)}")
    catalog = pd.read_parquet(target.clean_table("items"))
    catalog["item_id"] = catalog["item_id"].astype(str)
    catalog = catalog.drop_duplicates("item_id", keep="last").set_index("item_id")
    rows, vectors = synthetic_variants(
        catalog, index.embeddings, index.item_ids, items - len(index), noise, seed
    )
    echo(
        f"[bench] {len(rows):,} synthetic items around the {len(index):,} of {base.root} "
        f"({time.time() - t0:.1f} s); building the index over {items:,}"
    )
    full = ItemIndex.build(
        np.concatenate([index.embeddings, vectors]),
        [*index.item_ids, *rows["item_id"]],
        cfg.index,
        queries=run_query_embeddings(data, model),
    )
    full.save(target.index)
    rows.to_parquet(target.added_items, index=False)
    export_model(cfg, target, model, data, full)
    if ranker_skip_reason(target) is None:
        export_ranker(cfg, target, model, data, full)
    marker.write_text(json.dumps(want))
    echo(f"[bench] {target.root}: {items:,} items exported in {time.time() - t0:.0f} s")
    return target.root
