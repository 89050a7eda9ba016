"""The product endpoints: the shop capabilities (`tfrec.shop`) on the served model version.

- `/recommend?user_id=&session_items=a,b&session_queries=q&k=&explain=&mmr_lambda=&category=`:
  the home feed (`home_feed`): a known user from their history, folded with the current
  session; an unknown user from the session, else popularity. Never an error for who asks;
  session item ids not in the catalog are listed in `unknown_session_items`.
- `/search?q=&user_id=&session_items=&k=&explain=&mmr_lambda=&category=&retriever=&ranker=`: search
  (`tfrec.shop.search`); `retriever=dense|hybrid` (`shop.retriever`; `tfrec.shop.hybrid`).
- `/similar?item_id=&weights=semantic:1,behavioural:0.5,attribute:0.2&k=&category=`:
  `similar_items` with each dimension's score and contribution (unnamed dimensions keep the
  config's `shop.similar_weights`).
- `/complementary?item_id=&cart=a,b&k=&category=`: `complementary_items` of the item and cart.
- `/bundle?items=a,b&size=`: `bundle`.
- `POST /v1/items` `{"items": [{"item_id", "title", ...}]}`: cold start while serving; the
  items are embedded with the served `item_encoder`, journaled durably (fsync, see
  `tfrec.serving.live_items`) and added to the shop context at once; replayed at start-up.

Each loaded model version gets its own `ShopContext` (`tfrec.serving.shop_context.build_context`),
built before the version is swapped in (`ModelManager(on_load=...)`), so a request uses one
version's query encoder and item vectors from start to end. /search and /recommend score a
version's index embeddings (the vectors its ScaNN index holds) exactly: below
`index.brute_force_below` items with a matmul over the whole catalog; from there only the
served index's top `candidates` (`serving.candidates`; more when the request needs) through the
version's `neighbors` signature (ScaNN or the device index, `tfrec.shop.retrieve`); there
/similar scores only the item's own index neighbours and co-viewed items, /complementary and
/bundle test only the best `candidates` items for substitutes. ScaNN serves the TF Serving
predict API too (`tfrec_scann` `retrieval` and `neighbors` signatures).

With a ranker of the same query tower (`query_fingerprint`), the ranker's `ranker_embedded`
signature gets the query embedding /search computed instead of encoding the query again.

`category=` (any endpoint but /bundle) keeps items whose category path starts with it: the
capability is asked for `candidates` items, filtered, then cut to `k`.

Retrieve -> rank -> rules: when a version of the ranker (`tfrec_ranker`, signature `ranker`,
see `tfrec.export.ranker.RankerServingModule`) is served, /search and /recommend ask the capability
for `rank_candidates` candidates (retrieval order, no MMR), score them with the ranker (the
request's query, user, recent items = the user's history then the session, the current UTC
hour, position = the ranker's serving position), order them by its `serving_score`, then apply
the rules: MMR (`mmr_lambda` < 1, on the serving scores), `category=`, the cut to `k`. Each
item then carries `retrieval_score` (the capability's score), `p_click`, `p_purchase`,
`ranker_score` and `score` (= the serving score, what the order follows), and the response
names the ranker: `"ranker": {"model": "tfrec_ranker", "version": 1}`. With no ranker served,
or `ranker=false` in the request, the endpoints answer as before with `"ranker": null`.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.data.prepared import load_prepared
from tfrec.serving.live_items import LiveItemJournal, item_records, parse_item_rows
from tfrec.serving.models import LoadedVersion, ModelManager, ServingError
from tfrec.serving.query_params import (
    PARAMS,
    param_bool,
    param_int,
    param_list,
    param_text,
    param_unit,
    parse_weights,
)
from tfrec.serving.shop_context import add_rows, build_context
from tfrec.shop import (
    UnknownItemError,
    bundle,
    complementary_items,
    home_feed,
    search,
    similar_items,
)
from tfrec.shop.diversity import mmr_rerank
from tfrec.text.frozen import FrozenTextEmbedder, frozen_text_tables

SHOP_MODELS = ("tfrec_scann", "tfrec")  # the model whose versions the endpoints use, in order
RANKER_MODEL = "tfrec_ranker"  # the ranker /search and /recommend use when it is served
RANKED_ENDPOINTS = ("search", "recommend")
RANK_CANDIDATES = 100  # retrieved candidates the ranker re-ranks per request


def takes_embedding(ranker: LoadedVersion, retrieval: LoadedVersion | None) -> bool:
    """Whether `ranker`'s `ranker_embedded` may be given `retrieval`'s query embeddings: both
    exports carry the same `query_fingerprint` (the same query tower and text weights).

    Example:
    ```python
    takes_embedding(manager.get("tfrec_ranker"), manager.get("tfrec_scann"))
    ```
    """
    fingerprint = ranker.info.get("query_fingerprint")
    served = retrieval.info.get("query_fingerprint") if retrieval is not None else None
    return (
        bool(fingerprint) and "ranker_embedded" in ranker.signature_defs and fingerprint == served
    )


# --------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------


class ProductPipeline:
    """The shop capabilities over the served versions of a run's exports.

    Args:
        run_dir: Path. The run (its `data/clean/` tables and `index/added_items.parquet`).
        manager: ModelManager serving the run's exports; its `on_load` is set here, so build
            the pipeline before `manager.start()`.
        cfg: Config. The run's config (`data`, `text` and `shop` sections).
        candidates: int. Items asked of a capability before `category=` filters them, and
            the fewest /search and /recommend take from the served index of a catalog of
            `index.brute_force_below` items or more. Defaults to 200.
        max_k: int. The largest `k` (and bundle `size`) accepted. Defaults to 100.
        max_items: int. The most items one `POST /v1/items` may add. Defaults to 256.
        rank_candidates: int. Retrieved candidates the ranker re-ranks (when one is served).
            Defaults to 100.
        ranker_model: str. The served model holding the `ranker` signature. Defaults to
            `tfrec_ranker`.
        journal: LiveItemJournal or None. Where live adds are made durable before they are
            acknowledged, replayed here; None keeps them in memory only. Defaults to None.
    """

    def __init__(
        self,
        run_dir: Path,
        manager: ModelManager,
        cfg,
        candidates: int = 200,
        max_k: int = 100,
        max_items: int = 256,
        rank_candidates: int = RANK_CANDIDATES,
        ranker_model: str = RANKER_MODEL,
        journal: LiveItemJournal | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.manager = manager
        self.cfg = cfg
        self.candidates = candidates
        self.max_k = max_k
        self.max_items = max_items
        self.rank_candidates = rank_candidates
        self.ranker_model = ranker_model
        self.hour_of_day = lambda: time.gmtime().tm_hour  # the ranker's `hour` feature
        run = RunDir(self.run_dir)
        t0 = time.time()
        self.data = load_prepared(cfg, run)
        self.text_table = frozen_text_tables(cfg, self.data)[0]
        self.items = self._load_items(run)
        self.added, self._added_stamp = None, None
        self._added_rows()
        self.users = list(self.data.user_vocab.values)
        self.text_embedder = FrozenTextEmbedder(cfg)
        self._lock = threading.RLock()
        self._live: list[pd.DataFrame] = []  # batches of POST /v1/items, in order
        self.journal = journal
        replayed = journal.replay() if journal is not None else None
        if replayed is not None:  # added before a restart: every version gets them on load
            self._live.append(replayed)
        self.shop_model = next(
            (n for n in SHOP_MODELS if run.export_model(n).is_dir()), SHOP_MODELS[-1]
        )
        manager.on_load = self.prepare_version
        echo(f"[serve] shop data of {self.run_dir} loaded in {time.time() - t0:.1f} s")

    @staticmethod
    def _load_items(run: RunDir) -> pd.DataFrame:
        items = pd.read_parquet(run.clean_table("items"))
        items["item_id"] = items["item_id"].astype(str)
        return items.drop_duplicates("item_id", keep="last").set_index("item_id")

    # --- contexts per version --------------------------------------------------------------

    def _added_rows(self) -> pd.DataFrame | None:
        """`index/added_items.parquet` as it is now: `tfrec index add` and `tfrec export`
        (folding the live-item journal) add rows to it while the server runs."""
        path = RunDir(self.run_dir).added_items
        stamp = path.stat().st_mtime_ns if path.exists() else None
        if stamp != self._added_stamp:
            try:
                added = pd.read_parquet(path) if stamp is not None else None
            except (OSError, ValueError) as e:  # being written now: keep the rows read before
                echo(f"[serve] {path.name} not readable now ({type(e).__name__}); kept as read")
                return self.added
            if added is not None:
                added["item_id"] = added["item_id"].astype(str)
            self.added, self._added_stamp = added, stamp
        return self.added

    def prepare_version(self, version: LoadedVersion) -> None:
        """`ModelManager.on_load`: build the shop context of the model the endpoints use
        before the version is swapped in (a failure refuses the version)."""
        if version.name == self.shop_model and "query_encoder" in version.signature_defs:
            self._ensure_context(version)

    def _ensure_context(self, version: LoadedVersion):
        ctx = version.extras.get("shop")
        if ctx is not None and version.extras.get("live", 0) == len(self._live):
            return ctx
        with self._lock:
            if version.extras.get("shop") is None:
                t0 = time.time()
                version.extras["shop"] = build_context(
                    version,
                    self.data,
                    self.text_table,
                    self.items,
                    self._added_rows(),
                    self.text_embedder,
                    self.cfg.index.brute_force_below,
                )
                version.extras["live"] = 0
                echo(
                    f"[serve] shop context of {version.name} version {version.version}: "
                    f"{version.extras['shop'].num_items - 1} items ({time.time() - t0:.1f} s)"
                )
            # items added live (POST /v1/items) while this version was loading
            while version.extras["live"] < len(self._live):
                rows = self._live[version.extras["live"]]
                version.extras["shop"] = self._add(version.extras["shop"], version, rows)
                version.extras["live"] += 1
            return version.extras["shop"]

    def _add(self, ctx, version: LoadedVersion, rows: pd.DataFrame):
        return add_rows(ctx, version, self.data.catalog, self.users, rows, self.text_embedder)

    def current(self):
        """(the version the endpoints use, its shop context)."""
        for name in (self.shop_model, *SHOP_MODELS):
            try:
                version = self.manager.get(name)
            except ServingError:
                continue
            if "query_encoder" in version.signature_defs:
                return version, self._ensure_context(version)
        raise ServingError("no model with a query_encoder is being served", 503, "UNAVAILABLE")

    # --- endpoints -------------------------------------------------------------------------

    def handle(self, endpoint: str, qs: dict) -> dict:
        """Validate the query parameters of a product endpoint and answer it."""
        if endpoint not in PARAMS:
            raise ServingError(f"unknown endpoint /{endpoint}", 404, "NOT_FOUND")
        unknown = sorted(set(qs) - PARAMS[endpoint])
        if unknown:
            raise ServingError(
                f"unknown parameter {unknown[0]!r} for /{endpoint}; accepted: "
                f"{', '.join(sorted(PARAMS[endpoint]))}"
            )
        version, ctx = self.current()
        ranked = endpoint in RANKED_ENDPOINTS
        # ranker=false: retrieval and rules only, to compare with the ranked order
        use_ranker = ranked and param_bool({"ranker": qs.get("ranker", "true")}, "ranker")
        ranker = self.ranker() if use_ranker else None
        try:
            if ranked:
                result = getattr(self, endpoint)(ctx, qs, ranker)
            else:
                result = getattr(self, endpoint)(ctx, qs)
        except UnknownItemError as e:
            raise ServingError(str(e), 404, "NOT_FOUND") from None
        except ValueError as e:
            raise ServingError(str(e)) from None
        if ranked:
            result = {
                "ranker": None
                if ranker is None
                else {"model": ranker.name, "version": ranker.version},
                **result,
            }
        return {
            "endpoint": endpoint,
            "model": {"name": version.name, "version": version.version},
            **result,
        }

    # --- ranking ---------------------------------------------------------------------------

    def ranker(self):
        """The served ranker version (None when none is served)."""
        try:
            version = self.manager.get(self.ranker_model)
        except ServingError:
            return None
        return version if "ranker" in version.signature_defs else None

    def _ranked(self, ctx, ranker, call, n, lam, query, user_id, session) -> dict:
        """`call(m, mmr_lambda)` -> a capability's result; with a ranker: its top
        `rank_candidates` in retrieval order, re-ranked by the ranker's serving score, then
        MMR, cut to `n` items."""
        if ranker is None:
            return call(n, lam)
        result = call(max(n, self.rank_candidates), 1.0)
        items = result["items"]
        if not items:
            return result
        scores = self.rank_items(ctx, ranker, items, query, user_id, session)
        order = np.argsort(-scores["serving_score"], kind="stable")
        rows = np.array([ctx.item_index(items[i]["item_id"]) for i in order], np.int64)
        if lam < 1:
            rows_by_item = {int(r): int(i) for r, i in zip(rows, order, strict=True)}
            chosen = mmr_rerank(rows, scores["serving_score"][order], ctx.item_embeddings, n, lam)
            order = np.array([rows_by_item[int(r)] for r in chosen], np.int64)
        out = []
        for rank, i in enumerate(order[:n], start=1):
            item = dict(items[i])
            item["retrieval_score"] = item.pop("score")
            out.append(
                {
                    **item,
                    "rank": rank,
                    "p_click": round(float(scores["p_click"][i]), 6),
                    "p_purchase": round(float(scores["p_purchase"][i]), 6),
                    "ranker_score": round(float(scores["score"][i]), 6),
                    "score": round(float(scores["serving_score"][i]), 5),
                }
            )
        return {**result, "items": out, "ranked_candidates": len(items)}

    def rank_items(self, ctx, ranker, items, query, user_id, session) -> dict:
        """The `ranker` signature's outputs for `items` (dicts with `item_id`) of one request."""
        uid = user_id or ""
        history = [int(i) for i in ctx.user_histories.get(uid, [])] if uid else []
        session_rows, _ = ctx.known_items(session)
        recent = [ctx.item_ids[i] for i in [*history, *session_rows][-ctx.max_history :]]
        # left-padded with "" to the history width: the query encoder's input as /search sent
        # it (its embedding is cached), and one width that stacks requests in a ranker batch;
        # no history at all is one "" (`ServedQueryEncoder`): the same features, and the
        # ranker looks up 1 id per candidate instead of `max_history`
        width = max(ctx.max_history, 1) if recent else 1
        padded = [""] * (width - len(recent)) + recent
        recent = padded if ranker.batch_queues else (recent or [""])
        m = len(items)
        position = int(ranker.info.get("serving_position", 1))
        inputs = {
            "recent_item_ids": np.array([recent] * m, object),
            "item_id": np.array([it["item_id"] for it in items], object),
            "position": np.full(m, position, np.int64),
            "hour": np.full(m, self.hour_of_day(), np.int64),
        }
        encoder = ctx.query_encoder
        if takes_embedding(ranker, getattr(encoder, "version", None)):
            # the same query tower: the embedding /search computed, not BERT again
            emb = encoder.encode([query], [uid], np.array([padded], object))
            return ranker.run(
                "ranker_embedded", {"query_embedding": np.repeat(emb, m, 0), **inputs}
            )
        inputs["query"] = np.array([query] * m, object)
        inputs["user_id"] = np.array([uid] * m, object)
        return ranker.run("ranker", inputs)

    def _with_category(self, qs: dict, k: int, call) -> dict:
        """`call(n)` -> a capability's result with `n` items; with `category=`, more items are
        asked for, filtered by category path prefix and cut to k."""
        category = param_text(qs, "category")
        if not category:
            return call(k)
        result = call(max(k, self.candidates))
        kept = [it for it in result["items"] if str(it.get("category", "")).startswith(category)]
        result["filtered"] = {"category": len(result["items"]) - len(kept)}
        result["category"] = category
        result["items"] = [{**it, "rank": r} for r, it in enumerate(kept[:k], start=1)]
        return result

    def recommend(self, ctx, qs: dict, ranker=None) -> dict:
        s = self.cfg.shop
        k = param_int(qs, "k", 10, 1, self.max_k)
        user_id = param_text(qs, "user_id") or None
        session, queries = param_list(qs, "session_items"), param_list(qs, "session_queries")
        lam, explain = param_unit(qs, "mmr_lambda", s.mmr_lambda), param_bool(qs, "explain")
        return self._with_category(
            qs,
            k,
            lambda n: self._ranked(
                ctx,
                ranker,
                lambda m, mmr: home_feed(
                    ctx,
                    user_id,
                    session_items=session,
                    session_queries=queries,
                    k=m,
                    mmr_lambda=mmr,
                    session_weight=s.session_weight,
                    explain=explain,
                    candidates=s.mmr_candidates,
                    index_candidates=self.candidates,
                ),
                n,
                lam,
                queries[-1] if queries else "",
                user_id,
                session,
            ),
        )

    def search(self, ctx, qs: dict, ranker=None) -> dict:
        q = param_text(qs, "q")
        if not q:
            raise ServingError(
                "/search needs q=<query>, a non-empty search query (use /recommend for a feed)"
            )
        k = param_int(qs, "k", 10, 1, self.max_k)
        user_id = param_text(qs, "user_id") or None
        session = param_list(qs, "session_items")
        lam, explain = (
            param_unit(qs, "mmr_lambda", self.cfg.shop.mmr_lambda),
            param_bool(qs, "explain"),
        )
        return self._with_category(
            qs,
            k,
            lambda n: self._ranked(
                ctx,
                ranker,
                lambda m, mmr: search(
                    ctx,
                    q,
                    user_id,
                    session,
                    k=m,
                    explain=explain,
                    mmr_lambda=mmr,
                    candidates=self.cfg.shop.mmr_candidates,
                    retriever=param_text(qs, "retriever", self.cfg.shop.retriever),
                    hybrid_weight=self.cfg.shop.hybrid_weight,
                    hybrid_depth=self.cfg.shop.hybrid_depth,
                    index_candidates=self.candidates,
                ),
                n,
                lam,
                q,
                user_id,
                session,
            ),
        )

    def similar(self, ctx, qs: dict) -> dict:
        item_id = param_text(qs, "item_id")
        if not item_id:
            raise ServingError("/similar needs item_id=<id>")
        k = param_int(qs, "k", 10, 1, self.max_k)
        weights = parse_weights(qs.get("weights", ""), self.cfg.shop.similar_weights)
        return self._with_category(
            qs,
            k,
            lambda n: similar_items(
                ctx, item_id, k=n, weights=weights, index_candidates=self.candidates
            ),
        )

    def complementary(self, ctx, qs: dict) -> dict:
        item_id = param_text(qs, "item_id")
        if not item_id:
            raise ServingError("/complementary needs item_id=<id> (and optionally cart=a,b)")
        k = param_int(qs, "k", 10, 1, self.max_k)
        cart = [item_id, *[c for c in param_list(qs, "cart") if c != item_id]]
        s = self.cfg.shop
        return self._with_category(
            qs,
            k,
            lambda n: complementary_items(
                ctx,
                cart,
                k=n,
                prefer_other_category=s.prefer_other_category,
                same_category_factor=s.same_category_factor,
                substitute_similarity=s.substitute_similarity,
                index_candidates=self.candidates,
            ),
        )

    def bundle(self, ctx, qs: dict) -> dict:
        items = param_list(qs, "items")
        if not items:
            raise ServingError("/bundle needs items=<id>[,<id>...]")
        s = self.cfg.shop
        size = param_int(qs, "size", s.bundle_size, 1, self.max_k)
        return bundle(
            ctx, items, size, s.same_category_factor, s.substitute_similarity, self.candidates
        )

    # --- cold start while serving ----------------------------------------------------------

    def add_items(self, body) -> dict:
        """`POST /v1/items`: validate item rows, embed them with the served version's
        `item_encoder`, journal them (fsync), add them to its shop context (and to every later
        version's)."""
        rows = parse_item_rows(body, self.max_items, self.cfg.data.item_features)
        version, _ = self.current()
        with self._lock:
            ctx = self._ensure_context(version)
            ids = rows["item_id"].tolist()
            new = sum(ctx._item_index.get(i) is None for i in ids)
            t0 = time.time()
            updated = self._add(ctx, version, rows)
            if self.journal is not None:  # durable before it is acknowledged (or a 503)
                model = {"name": version.name, "version": version.version}
                self.journal.append(item_records(rows), model)
            version.extras["shop"] = updated
            self._live.append(rows)
            version.extras["live"] = len(self._live)
        echo(
            f"[serve] added {new} new and updated {len(ids) - new} items while serving "
            f"({time.time() - t0:.2f} s)"
        )
        return {
            "added": new,
            "updated": len(ids) - new,
            "item_ids": ids,
            "num_items": version.extras["shop"].num_items - 1,
            "model": {"name": version.name, "version": version.version},
        }


def to_json(value):
    """`json.dumps` default for numpy scalars and arrays."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
