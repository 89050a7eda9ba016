"""The shop context of a served model version: `tfrec.shop.ShopContext` built from what the
version itself serves, so the product endpoints answer with the version's own vectors.

- item embeddings: the version's index (`index_item_ids`, `index_embeddings` variables of the
  SavedModel), the same vectors its ScaNN / brute-force signatures search; catalog items the
  index lacks are embedded with the version's `item_encoder` signature;
- items in the index that are not in the run's catalog (added with `tfrec index add`): their
  rows from `<run>/index/added_items.parquet`, appended with `add_items_to_context`;
- semantic (text) embeddings: the run's frozen text table (the on-disk embedding cache), new
  items' texts through the same cache and frozen encoder (`tfrec.text.frozen.FrozenTextEmbedder`);
- the query side: the version's `query_encoder` signature (`ServedQueryEncoder`);
- popularity, co-occurrence and user histories: every event of the run (`splits=None`);
- the BM25 index of hybrid /search (`ShopContext.lexical_index`): built with the context, once
  per version, and again in the new context of each live item add;
- from `exact_below` indexed items on: the version's `neighbors` signature (its ScaNN or device
  index) as `ShopContext.candidate_search` (`ServedIndexSearch`), so /search and /recommend
  score exactly only the index's top candidates; catalog items the index lacks and live adds
  are `unindexed_rows`, always scored.
"""

from __future__ import annotations

import collections
import copy
import threading
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tfrec.core.log import echo
from tfrec.serving.models import LoadedVersion
from tfrec.shop.cold_start import add_items_to_context, new_item_features
from tfrec.shop.context import ShopContext
from tfrec.text.frozen import FrozenTextEmbedder

BATCH = 256
CACHED = 256  # single-row query embeddings `ServedQueryEncoder` keeps


class ServedQueryEncoder:
    """A served version's `query_encoder` signature as a shop `QueryEncoder`.

    Args:
        version: LoadedVersion. A version with a `query_encoder` signature.
        user_ids: list of str. User id of each user index (index 0 = unknown).
        item_ids: list of str. Item id of each context row (row 0 = padding).
    """

    def __init__(self, version: LoadedVersion, user_ids: Sequence[str], item_ids: Sequence[str]):
        self.version = version
        self.user_ids = list(user_ids)
        self.item_ids = item_ids
        # (query, user id, recent item ids) -> embedding of the last single-row requests: the
        # ranker's `ranker_embedded` asks again for the embedding /search just computed
        self._recent: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, queries, user_idx, history) -> np.ndarray:
        user_idx = np.asarray(user_idx, np.int64).reshape(-1)
        history = np.asarray(history, np.int64).reshape(len(user_idx), -1)
        if not history.any():  # only padding: one "" per row (what the ranker is sent too)
            history = history[:, :1]
        users = [self.user_ids[i] if 0 < i < len(self.user_ids) else "" for i in user_idx]
        ids = self.item_ids
        recent = np.array(
            [[ids[j] if 0 < j < len(ids) else "" for j in row] for row in history], dtype=object
        ).reshape(len(user_idx), -1)
        if recent.shape[1] == 0:
            recent = np.full((len(user_idx), 1), "", dtype=object)
        return self.encode([str(q or "") for q in queries], users, recent)

    def encode(self, queries: list[str], users: list[str], recent: np.ndarray) -> np.ndarray:
        """`[B, D]` embeddings of raw `query_encoder` inputs; a single row is answered from the
        last `CACHED` single rows when it was asked for already."""
        key = None
        if len(queries) == 1:
            key = (queries[0], users[0], tuple(recent[0]))
            with self._lock:
                hit = self._recent.get(key)
                if hit is not None:
                    self._recent.move_to_end(key)
                    return hit
        out = self.version.run(
            "query_encoder",
            {
                "query": np.array(queries, dtype=object),
                "user_id": np.array(users, dtype=object),
                "recent_item_ids": np.asarray(recent, dtype=object),
            },
        )
        emb = np.asarray(out["embedding"], np.float32)
        if key is not None:
            with self._lock:
                self._recent[key] = emb
                while len(self._recent) > CACHED:
                    self._recent.popitem(last=False)
        return emb


class ServedIndexSearch:
    """A served version's `neighbors` signature (its ScaNN or device index) as a shop
    `CandidateSearch`: query embeddings -> context rows of the index's top n.

    Args:
        version: LoadedVersion. A version with a `neighbors` signature.
        rows: dict of str to int. Context row of each item id (ids the context lacks: -1).
        max_k: int. The most neighbours the signature returns (the export's `max_k`).

    Example:
    ```python
    ctx.candidate_search = ServedIndexSearch(version, ctx._item_index, version.info["max_k"])
    ctx.candidate_search(query_embeddings, 200)  # [B, 200] context rows, best first
    ```
    """

    def __init__(self, version: LoadedVersion, rows: dict[str, int], max_k: int):
        self.version = version
        self.rows = rows
        self.max_k = int(max_k)

    def __call__(self, embeddings: np.ndarray, n: int) -> np.ndarray:
        embeddings = np.asarray(embeddings, np.float32)
        embeddings = embeddings.reshape(-1, embeddings.shape[-1])
        k = np.int32(max(1, min(int(n), self.max_k)))
        out = self.version.run("neighbors", {"embedding": embeddings, "k": k})
        get = self.rows.get
        return np.array(
            [[get(x.decode(), -1) for x in row] for row in out["item_ids"]], np.int64
        ).reshape(len(embeddings), -1)


def item_encoder_inputs(version: LoadedVersion, items: pd.DataFrame) -> dict:
    """`item_encoder` inputs of contract item rows (a missing column means unknown)."""

    def text(column: str) -> np.ndarray:
        if column not in items:
            return np.full(len(items), "", dtype=object)
        return np.array(
            ["" if pd.isna(v) else str(v) for v in items[column].tolist()], dtype=object
        )

    def number(column: str) -> np.ndarray:
        if column not in items:
            return np.full(len(items), np.nan, np.float32)
        return pd.to_numeric(items[column], errors="coerce").to_numpy(np.float32)

    inputs = {
        "item_id": text("item_id"),
        "title": text("title"),
        "description": text("description"),
        "category": text("category"),
        "brand": text("brand"),
        "price": number("price"),
    }
    for extra in version.info.get("extra_item_inputs", []):
        column = extra["column"]
        inputs[extra["name"]] = number(column) if extra["kind"] == "numeric" else text(column)
    return inputs


def encode_items(version: LoadedVersion, items: pd.DataFrame) -> np.ndarray:
    """Item-tower embeddings [n, D] of item rows through the version's `item_encoder`."""
    inputs = item_encoder_inputs(version, items)
    out = []
    for start in range(0, len(items), BATCH):
        part = {k: v[start : start + BATCH] for k, v in inputs.items()}
        out.append(np.asarray(version.run("item_encoder", part)["embedding"], np.float32))
    dim = int(version.info.get("embedding_dim", 0))
    return np.concatenate(out) if out else np.zeros((0, dim), np.float32)


def clone_context(ctx: ShopContext) -> ShopContext:
    """A copy that `add_items_to_context` can change while requests read the original."""
    out = copy.copy(ctx)
    for name in ("item_ids", "titles", "categories", "brands"):
        setattr(out, name, list(getattr(ctx, name)))
    if ctx.texts is not None:
        out.texts = list(ctx.texts)
    for name in ("prices", "category_idx", "brand_idx", "price_bucket", "item_embeddings"):
        setattr(out, name, np.array(getattr(ctx, name), copy=True))
    if ctx.text_embeddings is not None:
        out.text_embeddings = np.array(ctx.text_embeddings, copy=True)
    out.coview = copy.copy(ctx.coview)
    out.copurchase = copy.copy(ctx.copurchase)
    out._item_index = dict(ctx._item_index)
    out._category_association = None
    return out


def add_rows(
    ctx: ShopContext,
    version: LoadedVersion,
    catalog,
    users: Sequence[str],
    rows: pd.DataFrame,
    text_embedder: FrozenTextEmbedder,
    embeddings: np.ndarray | None = None,
) -> ShopContext:
    """A new context with item rows added (or updated): item-tower embeddings from the version
    (`embeddings`, else its `item_encoder`; those are new to the index, `unindexed_rows`),
    text embeddings from `text_embedder`."""
    feats = new_item_features(catalog, rows)
    emb = encode_items(version, rows) if embeddings is None else embeddings
    text = text_embedder(feats["texts"]) if ctx.text_embeddings is not None else None
    out = clone_context(ctx)
    added = add_items_to_context(out, feats, emb, text)
    if embeddings is None:  # new vectors the version's index does not hold: scored exactly
        known = ctx.unindexed_rows if ctx.unindexed_rows is not None else np.zeros(0, np.int64)
        out.unindexed_rows = np.union1d(known, np.asarray(added, np.int64))
    out.query_encoder = ServedQueryEncoder(version, users, out.item_ids)
    out.lexical_index()  # hybrid /search: BM25 over the catalog with the new items
    return out


def build_context(
    version: LoadedVersion,
    data,
    text_table: np.ndarray | None,
    items: pd.DataFrame,
    added: pd.DataFrame | None,
    text_embedder: FrozenTextEmbedder,
    exact_below: int | None = None,
) -> ShopContext:
    """The shop context of a served version.

    Args:
        version: LoadedVersion with `query_encoder`, `item_encoder` and an index.
        data: the run's PreparedData.
        text_table: [N, H] frozen text embeddings of the catalog (row 0 padding), or None.
        items: the run's clean catalog rows (to embed catalog items the index lacks).
        added: rows of items added after training (`index/added_items.parquet`), or None.
        text_embedder: FrozenTextEmbedder for the added items' texts.
        exact_below: int or None. From this many indexed items on (`index.brute_force_below`),
            dense scoring takes candidates from the version's `neighbors` signature
            (`ServedIndexSearch`); None: always a matmul over the whole catalog.
    """
    loaded = version.loaded
    if not hasattr(loaded, "index_item_ids") or not hasattr(loaded, "index_embeddings"):
        raise ValueError(f"{version.path} has no index variables (index_item_ids/_embeddings)")
    index_ids = [x.decode() for x in loaded.index_item_ids.numpy()]
    index_emb = np.asarray(loaded.index_embeddings.numpy(), np.float32)
    position = {item: row for row, item in enumerate(index_ids)}
    catalog_ids = list(data.catalog.item_ids)
    emb = np.zeros((len(catalog_ids), index_emb.shape[1]), np.float32)
    missing = []
    for row, item in enumerate(catalog_ids[1:], start=1):
        if item in position:
            emb[row] = index_emb[position[item]]
        else:
            missing.append(row)
    if missing:
        ids = [catalog_ids[r] for r in missing]
        frame = items.reindex(ids).reset_index().rename(columns={"index": "item_id"})
        emb[missing] = encode_items(version, frame)
        echo(
            f"[serve] {version.name} version {version.version}: {len(missing)} catalog items "
            "not in its index, embedded with its item_encoder"
        )
    ctx = ShopContext.from_prepared(data, emb, text_table, None, splits=None)
    users = list(data.user_vocab.values)
    ctx.query_encoder = ServedQueryEncoder(version, users, ctx.item_ids)
    in_catalog = set(catalog_ids)
    extra = [item for item in index_ids if item not in in_catalog]
    if extra:
        known = added[added["item_id"].isin(extra)] if added is not None else added
        if known is not None and len(known):
            rows = [position[i] for i in known["item_id"]]
            ctx = add_rows(ctx, version, data.catalog, users, known, text_embedder, index_emb[rows])
        skipped = len(extra) - (0 if known is None else len(known))
        if skipped:
            echo(
                f"[serve] {version.name} version {version.version}: {skipped} indexed items "
                "have no row in index/added_items.parquet and are left out of the shop context"
            )
    neighbors = "neighbors" in version.signature_defs
    if exact_below is not None and len(index_ids) >= exact_below and neighbors:
        ctx.candidate_search = ServedIndexSearch(
            version, ctx._item_index, int(version.info.get("max_k", len(index_ids)))
        )
        known = ctx.unindexed_rows if ctx.unindexed_rows is not None else np.zeros(0, np.int64)
        ctx.unindexed_rows = np.union1d(known, np.asarray(missing, np.int64))
        echo(
            f"[serve] {version.name} version {version.version}: /search and /recommend score "
            f"the top candidates of its index ({version.info.get('index', {}).get('mode')}, "
            f"{len(index_ids)} items) exactly"
        )
    ctx.lexical_index()  # hybrid /search: BM25 over the served catalog, once per version
    return ctx
