"""The item index: ScaNN (tree + asymmetric hashing + exact reordering) or exact search.

`ItemIndex.build(embeddings, item_ids, cfg.index, queries)` chooses the parameters from the
catalog size and the target recall:

- below `brute_force_below` items the index is exact (ScaNN brute force, float32);
- otherwise a k-means tree of about sqrt(N) leaves, asymmetric hashing (AH) with
  `dims_per_block` dimensions per 4-bit code and the anisotropic loss, and exact re-scoring of
  the best `reorder` AH candidates; `leaves_to_search` is then raised step by step until the
  measured recall@10 against brute force (on the given queries) reaches `target_recall`.

The index is a `scann_ops_pybind` searcher with string docids, so items are added later without
retraining anything (`add`, ScaNN's incremental upsert). It is saved two ways from the same
artifacts: `scann_ops_pybind` serialization (`<dir>/scann/`) and a SavedModel whose graph runs
ScaNN's TensorFlow ops (`<dir>/savedmodel/`, saved with `namespace_whitelist=["Scann"]`; load it
after `from scann import scann_ops`). `scann_module()` rebuilds the in-graph searcher from the
serialized artifacts, so the exported searcher returns exactly what the Python one returns.

    tfrec index build CONFIG    embed the catalog, choose parameters, print recall@10
    tfrec index add CONFIG --items FILE    embed new items from their text and upsert them
    tfrec index eval CONFIG     recall@10 and queries/s against brute force
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tfrec.config import IndexConfig

RECALL_K = 10


@dataclass
class IndexParams:
    """The parameters of one built index (written to `params.json`)."""

    mode: str  # "scann" or "brute_force"
    num_neighbors: int
    num_leaves: int = 0
    leaves_to_search: int = 0
    dims_per_block: int = 2
    anisotropic_threshold: float = 0.2
    reorder: int = 0
    training_sample_size: int = 0
    recall_at_10: float | None = None


def choose_params(num_items: int, cfg: IndexConfig) -> IndexParams:
    """Initial parameters for a catalog of `num_items` (leaves_to_search is tuned afterwards)."""
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
    """The ScaNN text config for `params` (dot product on L2-normalised embeddings)."""
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


def exact_top_k(embeddings: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row positions of the exact top-k by dot product (the brute-force reference)."""
    k = min(k, len(embeddings))
    out = np.empty((len(queries), k), dtype=np.int64)
    rows = max(1, min(256, (1 << 24) // max(len(embeddings), 1)))  # <= 64 MiB of scores
    for start in range(0, len(queries), rows):
        scores = queries[start : start + rows] @ embeddings.T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(scores, part, 1).argsort(axis=1)[:, ::-1]
        out[start : start + rows] = np.take_along_axis(part, order, 1)
    return out


def recall_against(
    approx: np.ndarray,
    exact: np.ndarray,
    queries: np.ndarray | None = None,
    embeddings: np.ndarray | None = None,
) -> float:
    """Mean share of the exact top-k found in the approximate top-k. Given the `queries` and
    `embeddings`, ties count: an approximate neighbour scoring at least the k-th exact score is
    a hit (items with identical embeddings are interchangeable)."""
    k = exact.shape[1]
    if queries is None or embeddings is None:
        hits = [
            len(set(a[:k].tolist()) & set(e.tolist())) for a, e in zip(approx, exact, strict=True)
        ]
        return float(np.mean(hits) / k) if hits else 0.0
    hits = []
    for q, a, e in zip(queries, approx, exact, strict=True):
        kth = float(embeddings[e[-1]] @ q)
        scores = embeddings[np.unique(a[:k])] @ q
        hits.append(min(k, int(np.sum(scores >= kth - 1e-6))))
    return float(np.mean(hits) / k) if hits else 0.0


def synthetic_queries(embeddings: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Queries near catalog items (an item plus noise, normalised), when no real ones exist."""
    rng = np.random.default_rng(seed)
    base = embeddings[rng.integers(0, len(embeddings), n)]
    q = base + rng.normal(scale=0.5 / math.sqrt(embeddings.shape[1]) * 4, size=base.shape)
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


class ItemIndex:
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

    def __len__(self) -> int:
        return len(self.item_ids)

    # --- building --------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        embeddings: np.ndarray,
        item_ids: list[str],
        cfg: IndexConfig,
        queries: np.ndarray | None = None,
        echo=print,
    ) -> ItemIndex:
        """Build the index and tune `leaves_to_search` until recall@10 >= `cfg.target_recall`."""
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
        recall = index.recall(queries, exact)
        if params.mode == "scann":
            while recall < cfg.target_recall and params.leaves_to_search < params.num_leaves:
                params.leaves_to_search = min(
                    params.num_leaves,
                    max(params.leaves_to_search + 1, params.leaves_to_search * 3 // 2),
                )
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

    def search(self, queries: np.ndarray, k: int) -> tuple[list[list[str]], np.ndarray]:
        """Item ids and scores of the top-k items of each query."""
        positions, scores = self.search_positions(queries, k)
        return [[self.item_ids[p] for p in row] for row in positions], scores

    def recall(
        self, queries: np.ndarray, exact: np.ndarray | None = None, k: int = RECALL_K
    ) -> float:
        """Recall@k of this index against brute force on `queries`."""
        if exact is None:
            exact = exact_top_k(self.embeddings, queries, k)
        approx, _ = self.search_positions(queries, exact.shape[1])
        return recall_against(approx, exact, queries, self.embeddings)

    # --- cold start ------------------------------------------------------------------------

    def add(self, item_ids: list[str], embeddings: np.ndarray) -> int:
        """Insert new items (or update existing ones) without rebuilding; returns how many
        were new. Uses ScaNN's incremental upsert."""
        embeddings = np.ascontiguousarray(np.atleast_2d(embeddings), dtype=np.float32)
        if embeddings.shape != (len(item_ids), self.embeddings.shape[1]):
            raise ValueError(
                f"embeddings must be [{len(item_ids)}, {self.embeddings.shape[1]}]. "
                f"Received: shape {embeddings.shape}"
            )
        position = {item: i for i, item in enumerate(self.item_ids)}
        new = 0
        rows = list(self.embeddings)
        for item, emb in zip(item_ids, embeddings, strict=True):
            item = str(item)
            if item in position:
                rows[position[item]] = emb
            else:
                position[item] = len(self.item_ids)
                self.item_ids.append(item)
                rows.append(emb)
                new += 1
        self.embeddings = np.ascontiguousarray(np.stack(rows), dtype=np.float32)
        self.searcher.upsert([str(i) for i in item_ids], embeddings)
        return new

    # --- saving ----------------------------------------------------------------------------

    def save(self, directory: str | Path, savedmodel: bool = True) -> Path:
        """Write `scann/` (pybind serialization), `item_ids.json`, `embeddings.npy`,
        `params.json` and (optionally) `savedmodel/` (ScaNN TF ops). Written to a temporary
        directory first and swapped in, so a crash never leaves a half-written index."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        try:
            (tmp / "scann").mkdir()
            self.searcher.serialize(str(tmp / "scann"), relative_path=True)
            np.save(tmp / "embeddings.npy", self.embeddings)
            (tmp / "item_ids.json").write_text(json.dumps(self.item_ids))
            (tmp / "params.json").write_text(json.dumps(asdict(self.params), indent=2))
            if savedmodel:
                save_scann_savedmodel(self, tmp / "savedmodel")
            if directory.exists():
                old = directory.with_name(f".{directory.name}-old-{time.time_ns()}")
                directory.rename(old)
                tmp.rename(directory)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return directory

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
    import os

    from scann.scann_ops.py import scann_ops_pybind

    # relative asset paths resolve against the working directory; load from inside it
    cwd = os.getcwd()
    try:
        os.chdir(path)
        return scann_ops_pybind.load_searcher(".")
    finally:
        os.chdir(cwd)


def scann_state_from_artifacts(path: Path):
    """Build the TF-op searcher state from `scann_ops_pybind` serialized artifacts."""
    import tensorflow as tf
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
    k) -> item_ids [B, k] (tf.string), scores [B, k]`."""

    @staticmethod
    def make(index: ItemIndex):
        import tensorflow as tf
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
    """In-graph ScaNN search with this index's parameters (positions int32 and scores)."""
    import tensorflow as tf
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
    import tensorflow as tf

    module = ScannSearchModule.make(index)
    tf.saved_model.save(
        module,
        str(path),
        signatures={"serving_default": module.search, "search": module.search},
        options=tf.saved_model.SaveOptions(namespace_whitelist=["Scann"]),
    )


def load_scann_savedmodel(path: str | Path):
    """Load `<index>/savedmodel` (registers ScaNN's ops first)."""
    import tensorflow as tf
    from scann import scann_ops  # noqa: F401  (registers the Scann ops)

    return tf.saved_model.load(str(path))


# --------------------------------------------------------------------------------------------
# The index of a run: `tfrec index build|add|eval CONFIG` and the `index` stage
# --------------------------------------------------------------------------------------------


def index_dir(run) -> Path:
    return Path(run.root) / "index"


def run_query_embeddings(data, model, limit: int = 2000) -> np.ndarray:
    """Query-side embeddings of the run's held-out searches and feed users (real queries for
    measuring recall; cached query text, so no BERT forward)."""
    from tfrec.data.datasets import retrieval_features

    out = []
    for split in ("val", "test"):
        for frame in (data.search_eval.get(split), data.feed_eval.get(split)):
            if frame is None or len(frame) == 0:
                continue
            feats = retrieval_features(data, frame.head(limit))
            feats.pop("query")
            out.append(model.query_embeddings(feats).numpy())
    return np.concatenate(out)[:limit] if out else np.zeros((0, 1), np.float32)


def build_index_for_run(cfg, run, data=None, model=None, echo=print) -> ItemIndex:
    """Embed the catalog with the run's model, build the index, save it to `<run>/index`."""
    from tfrec.data.prepared import load_prepared
    from tfrec.training.retrieval import load_retrieval_model

    data = data or load_prepared(cfg, run)
    model = model or load_retrieval_model(cfg, run, data)
    embeddings = model.all_item_embeddings()[1:]
    queries = run_query_embeddings(data, model, cfg.index.eval_queries)
    index = ItemIndex.build(
        embeddings, data.catalog.item_ids[1:], cfg.index, queries if len(queries) else None, echo
    )
    path = index.save(index_dir(run))
    echo(f"[index] saved to {path} (scann/ pybind serialization, savedmodel/ ScaNN ops)")
    return index


def index_for_run(cfg, run, data, model, echo=print) -> ItemIndex:
    """The run's saved index when it matches the model, else a freshly built one."""
    path = index_dir(run)
    if (path / "params.json").exists():
        index = ItemIndex.load(path)
        dim = int(model.item_tower.embedding_dim)
        ids = data.catalog.item_ids[1:]
        if index.embeddings.shape[1] == dim and set(ids) <= set(index.item_ids):
            # the index must hold this model's vectors, not those of weights trained before
            position = {item: i for i, item in enumerate(index.item_ids)}
            stored = index.embeddings[[position[item] for item in ids]]
            if np.allclose(stored, model.all_item_embeddings()[1:], atol=1e-5):
                echo(f"[index] using {path} ({len(index)} items)")
                return index
            echo(f"[index] {path} holds vectors of other model weights; rebuilding")
        else:
            echo(f"[index] {path} does not match the model's catalog or size; rebuilding")
    return build_index_for_run(cfg, run, data, model, echo)


def read_new_items(cfg, path: str | Path):
    """New items in the data contract (CSV, Parquet or JSON Lines), validated."""
    from tfrec.data import schema
    from tfrec.data.readers import read_table
    from tfrec.data.validation import DataReport, DataValidationError, validate_items

    report = DataReport()
    frame = read_table(Path(path), schema.ITEMS, report=report)
    clean, violations = validate_items(frame, str(path), cfg.data, report)
    if violations:
        raise DataValidationError(violations)
    return clean.reset_index(drop=True)


def add_items_for_run(cfg, run, items_path: str | Path, echo=print) -> ItemIndex:
    """Cold start: embed new items from their text and features with the trained item tower
    (no retraining) and upsert them into the run's index. Added items are kept in
    `<run>/index/added_items.parquet` (the server shows their titles)."""
    import pandas as pd

    from tfrec.export.retrieval import RetrievalServingModule, run_numeric_stats
    from tfrec.data.prepared import load_prepared
    from tfrec.training.retrieval import load_retrieval_model
    from tfrec.text.frozen import make_text_encoder

    items = read_new_items(cfg, items_path)
    data = load_prepared(cfg, run)
    model = load_retrieval_model(cfg, run, data)
    model.attach_text_encoder(make_text_encoder(cfg, mode="frozen"))
    index = index_for_run(cfg, run, data, model, echo)
    module = RetrievalServingModule(
        model, data, index, max_k=1, use_scann=False, numeric_stats=run_numeric_stats(run, data)
    )
    embeddings = item_embeddings_from_features(module, items)
    t0 = time.time()
    new = index.add(items["item_id"].astype(str).tolist(), embeddings)
    echo(
        f"[index] added {new} new and updated {len(items) - new} items from {items_path} "
        f"in {time.time() - t0:.2f} s (ScaNN upsert); index now holds {len(index)} items"
    )
    previous = index_dir(run) / "added_items.parquet"
    if previous.exists():
        old = pd.read_parquet(previous)
        items = pd.concat([old[~old.item_id.isin(items.item_id)], items], ignore_index=True)
    index.save(index_dir(run))
    items.to_parquet(index_dir(run) / "added_items.parquet", index=False)
    return index


def item_embeddings_from_features(module, items) -> np.ndarray:
    """Item-tower embeddings of contract item rows through the export's `item_encoder`
    (config-declared extra features from their columns; a missing column means unknown)."""
    import pandas as pd
    import tensorflow as tf

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


def eval_index_for_run(cfg, run, echo=print) -> dict:
    """Recall@10 and queries/s of the run's index against exact search on the run's queries."""
    from tfrec.data.prepared import load_prepared
    from tfrec.training.retrieval import load_retrieval_model

    index = ItemIndex.load(index_dir(run))
    data = load_prepared(cfg, run)
    model = load_retrieval_model(cfg, run, data)
    queries = run_query_embeddings(data, model, cfg.index.eval_queries)
    if len(queries) == 0:
        queries = synthetic_queries(index.embeddings, cfg.index.eval_queries, cfg.index.seed)
    res = compare_with_brute_force(index, queries)
    echo(
        f"[index] {index.params.mode}, {len(index)} items, {len(queries)} queries: recall@10 "
        f"{res['recall_at_10']:.4f}; {res['index_qps']:.0f} queries/s vs brute force "
        f"{res['brute_force_qps']:.0f} queries/s (x{res['speedup']:.2f})"
    )
    return res


def compare_with_brute_force(index: ItemIndex, queries: np.ndarray, k: int = RECALL_K) -> dict:
    """Recall@k and single-query throughput of `index` against exact numpy search."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    exact = exact_top_k(index.embeddings, queries, k)
    recall = index.recall(queries, exact, k)

    def qps(fn) -> float:
        t0 = time.perf_counter()
        for q in queries:
            fn(q[None])
        return len(queries) / (time.perf_counter() - t0)

    index_qps = qps(lambda q: index.search_positions(q, k))
    bf_qps = qps(lambda q: exact_top_k(index.embeddings, q, k))
    return {
        "recall_at_10": recall,
        "index_qps": index_qps,
        "brute_force_qps": bf_qps,
        "speedup": index_qps / bf_qps,
    }


# --------------------------------------------------------------------------------------------
# `tfrec bench CONFIG --only index`: ScaNN against brute force at equal recall@10
# --------------------------------------------------------------------------------------------


def random_unit_embeddings(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """`n` random L2-normalised float32 vectors (generated in chunks to bound memory)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):
        x = rng.standard_normal((min(100_000, n - start), dim), dtype=np.float32)
        out[start : start + len(x)] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def _timed_qps(fn, queries: np.ndarray, max_seconds: float, batch: int = 1) -> float:
    """Queries/s of `fn` over `queries` (`batch` at a time), stopping after `max_seconds`."""
    fn(queries[:batch])  # warm-up
    done, t0 = 0, time.perf_counter()
    for start in range(0, len(queries), batch):
        fn(queries[start : start + batch])
        done += len(queries[start : start + batch])
        if time.perf_counter() - t0 > max_seconds:
            break
    return done / (time.perf_counter() - t0)


def index_benchmark(
    sizes: list[int],
    dim: int = 64,
    targets: tuple[float, ...] = (0.9, 0.95, 0.99),
    num_queries: int = 1000,
    k: int = RECALL_K,
    max_seconds: float = 5.0,
    seed: int = 0,
    echo=print,
) -> dict:
    """ScaNN (tree + AH + reorder, parameters from `choose_params`) against exact brute force
    (numpy float32 matmul + argpartition) on random unit embeddings. For each target recall@10,
    `leaves_to_search` is raised until ScaNN reaches it on the queries (items plus noise, as
    `synthetic_queries`); brute force is exact (recall 1.0 >= every target). Throughput is
    measured one query at a time (serving) and in batches of 256, each bounded by `max_seconds`,
    on one thread each (BLAS limited to one thread through threadpoolctl where installed: on a
    shared machine a multi-threaded BLAS measures the neighbours' load more than itself); ratios
    are ScaNN queries/s over brute-force queries/s in the same mode."""
    import contextlib

    try:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(limits=1, user_api="blas")
        threads = "one thread each"
    except ImportError:  # optional: without it BLAS uses its default threads
        limit = contextlib.nullcontext()
        threads = "ScaNN one thread, BLAS default threads"
    rows = []
    with limit:
        for n in sizes:
            rows += _bench_index_size(
                n, dim, targets, num_queries, k, max_seconds, seed, threads, echo
            )
    return {"dim": dim, "k": k, "threads": threads, "rows": rows}


def _bench_index_size(
    n, dim, targets, num_queries, k, max_seconds, seed, threads, echo
) -> list[dict]:
    from scann.scann_ops.py import scann_ops_pybind

    t0 = time.perf_counter()
    db = random_unit_embeddings(n, dim, seed)
    queries = synthetic_queries(db, num_queries, seed + 1)
    exact = exact_top_k(db, queries, k)
    params = choose_params(n, IndexConfig(brute_force_below=0))
    t1 = time.perf_counter()
    searcher = scann_ops_pybind.create_searcher(db, scann_config_text(db, params))
    build_s = time.perf_counter() - t1

    def brute_force(q):
        return exact_top_k(db, q, k)

    bf_single = _timed_qps(brute_force, queries, max_seconds)
    bf_batch = _timed_qps(brute_force, queries, max_seconds, 256)
    echo(
        f"[bench] index: {n:,} random unit vectors, dim {dim}, {len(queries)} queries; "
        f"ScaNN {params.num_leaves} leaves, AH {params.dims_per_block} dims/block, reorder "
        f"{params.reorder}, built in {build_s:.1f} s; exact brute force (numpy) "
        f"{bf_single:,.0f} q/s single, {bf_batch:,.0f} q/s in batches of 256 ({threads})"
    )
    echo(
        f"[bench] {'target':>7s} {'leaves':>7s} {'recall@10':>10s} {'ScaNN q/s':>10s} "
        f"{'x brute':>8s} {'batched q/s':>12s} {'x brute':>8s}"
    )
    rows, leaves = [], max(1, params.leaves_to_search)
    for target in targets:
        while True:
            kwargs = {
                "final_num_neighbors": k,
                "leaves_to_search": leaves,
                "pre_reorder_num_neighbors": params.reorder,
            }
            approx, _ = searcher.search_batched(queries, **kwargs)
            recall = recall_against(np.asarray(approx), exact)
            if recall >= target or leaves >= params.num_leaves:
                break
            leaves = min(params.num_leaves, max(leaves + 1, leaves * 5 // 4))
        single = _timed_qps(lambda q, kw=kwargs: searcher.search(q[0], **kw), queries, max_seconds)
        batched = _timed_qps(
            lambda q, kw=kwargs: searcher.search_batched(q, **kw),
            queries,
            max_seconds,
            256,
        )
        row = {
            "num_items": n,
            "target_recall": target,
            "leaves_to_search": leaves,
            "recall_at_10": recall,
            "scann_qps": single,
            "brute_force_qps": bf_single,
            "ratio": single / bf_single,
            "scann_batched_qps": batched,
            "brute_force_batched_qps": bf_batch,
            "batched_ratio": batched / bf_batch,
            "build_seconds": build_s,
            "num_leaves": params.num_leaves,
        }
        rows.append(row)
        echo(
            f"[bench] {target:7.2f} {leaves:7d} {recall:10.4f} {single:10,.0f} "
            f"{row['ratio']:8.2f} {batched:12,.0f} {row['batched_ratio']:8.2f}"
        )
    echo(f"[bench] index {n:,}: {time.perf_counter() - t0:.1f} s in all")
    return rows
