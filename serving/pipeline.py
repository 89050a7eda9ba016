"""The product endpoints: retrieve (ScaNN) -> rank -> rules.

- `/search?q=&user_id=&k=&category=`: the query (and who asks) -> top items;
- `/recommend?user_id=&k=&category=`: the home feed (no query): the user id and their recent
  items; an unknown user gets the learnt "anyone" feed;
- `/similar?item_id=&k=&category=`: items near an item (its content embedding, `neighbors`).

Retrieval runs the exported `retrieval` signature (ScaNN, model `tfrec_scann`) when that model is
served, else `retrieval_bruteforce` of `tfrec`. Ranking: a ranker export is used when one is
served (none is exported yet, so candidates keep their retrieval order and score). Rules: drop
duplicates, drop items the user already purchased (recommend, search), keep only a category
(prefix match on the category path) when asked, cut to `k`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from serving.models import ModelManager, ServingError

POSITIVE_EVENTS = ("click", "add_to_cart", "purchase")


class ProductPipeline:
    """Search, recommendations and similar items over a run's exports.

    Args:
        run_dir: Path. The run (its `data/clean/` tables and `index/added_items.parquet`).
        manager: ModelManager serving the run's exports.
        candidates: int. Items retrieved before ranking and rules. Defaults to 200.
        max_k: int. The largest `k` accepted. Defaults to 100.
        max_history: int. Recent items sent as the user's history. Defaults to 20.
    """

    def __init__(
        self,
        run_dir: Path,
        manager: ModelManager,
        candidates: int = 200,
        max_k: int = 100,
        max_history: int = 20,
    ):
        self.run_dir = Path(run_dir)
        self.manager = manager
        self.candidates = candidates
        self.max_k = max_k
        self.max_history = max_history
        self.items = self._load_items()
        self.recent, self.purchased = self._load_users()

    def _load_items(self) -> pd.DataFrame:
        clean = self.run_dir / "data" / "clean" / "items.parquet"
        if not clean.exists():
            raise FileNotFoundError(f"{clean} does not exist: the run has no data stage output")
        frames = [pd.read_parquet(clean)]
        added = self.run_dir / "index" / "added_items.parquet"
        if added.exists():
            frames.append(pd.read_parquet(added))
        items = pd.concat(frames, ignore_index=True)
        items["item_id"] = items["item_id"].astype(str)
        return items.drop_duplicates("item_id", keep="last").set_index("item_id")

    def _load_users(self) -> tuple[dict, dict]:
        path = self.run_dir / "data" / "clean" / "events.parquet"
        if not path.exists():
            return {}, {}
        ev = pd.read_parquet(path, columns=["user_id", "item_id", "event", "timestamp"])
        ev = ev[ev["event"].isin(POSITIVE_EVENTS)].sort_values("timestamp", kind="stable")
        ev["user_id"] = ev["user_id"].astype(str)
        ev["item_id"] = ev["item_id"].astype(str)
        recent = {
            u: list(dict.fromkeys(g["item_id"].tolist()[::-1]))[: self.max_history][::-1]
            for u, g in ev.groupby("user_id", sort=False)
        }
        bought = ev[ev["event"] == "purchase"]
        purchased = {u: set(g["item_id"]) for u, g in bought.groupby("user_id", sort=False)}
        return recent, purchased

    # --- models ----------------------------------------------------------------------------

    def _retrieval_model(self):
        for name, sig in (("tfrec_scann", "retrieval"), ("tfrec", "retrieval_bruteforce")):
            try:
                model = self.manager.get(name)
            except ServingError:
                continue
            if sig in model.signature_defs:
                return model, sig
        raise ServingError("no retrieval model is being served", 503, "UNAVAILABLE")

    def _check_k(self, k: int) -> int:
        if k < 1 or k > self.max_k:
            raise ServingError(f"k must be between 1 and {self.max_k}; got {k}")
        return k

    # --- endpoints -------------------------------------------------------------------------

    def search(self, q: str, user_id: str = "", k: int = 10, category: str = "") -> dict:
        if not q or not q.strip():
            raise ServingError("q must be a non-empty search query (use /recommend for a feed)")
        return self._retrieve(q.strip(), user_id, k, category, endpoint="search")

    def recommend(self, user_id: str = "", k: int = 10, category: str = "") -> dict:
        return self._retrieve("", user_id, k, category, endpoint="recommend")

    def similar(self, item_id: str, k: int = 10, category: str = "") -> dict:
        k = self._check_k(k)
        if not item_id or item_id not in self.items.index:
            raise ServingError(f"unknown item_id {item_id!r}", 404, "NOT_FOUND")
        row = self.items.loc[item_id]
        model, _ = self._retrieval_model()

        def text(col):
            v = row.get(col, "")
            return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)

        price = row.get("price", np.nan)
        extras = {}
        for e in model.info.get("extra_item_inputs", []):
            if e["kind"] == "numeric":
                v = pd.to_numeric(pd.Series([row.get(e["column"], np.nan)]), errors="coerce")[0]
                extras[e["name"]] = np.array([v], np.float32)
            else:
                extras[e["name"]] = np.array([text(e["column"])], object)
        emb = model.run(
            "item_encoder",
            {
                "item_id": np.array([item_id], object),
                "title": np.array([text("title")], object),
                "description": np.array([text("description")], object),
                "category": np.array([text("category")], object),
                "brand": np.array([text("brand")], object),
                "price": np.array([np.nan if price is None else price], np.float32),
                **extras,
            },
        )["embedding"]
        n = min(self.candidates, int(model.info.get("max_k", self.candidates)))
        out = model.run("neighbors", {"embedding": emb, "k": np.int32(n)})
        ids = [x.decode() for x in out["item_ids"][0]]
        return self._respond(
            "similar",
            model,
            ids,
            out["scores"][0],
            k,
            category,
            exclude=set(),
            extra={"item_id": item_id},
            itself=item_id,
        )

    def _retrieve(self, q: str, user_id: str, k: int, category: str, endpoint: str) -> dict:
        k = self._check_k(k)
        model, sig = self._retrieval_model()
        recent = self.recent.get(user_id, []) if user_id else []
        n = min(self.candidates, int(model.info.get("max_k", self.candidates)))
        out = model.run(
            sig,
            {
                "query": np.array([q], object),
                "user_id": np.array([user_id or ""], object),
                "recent_item_ids": np.array([recent or [""]], object),
                "k": np.int32(n),
            },
        )
        ids = [x.decode() for x in out["item_ids"][0]]
        exclude = self.purchased.get(user_id, set()) if user_id else set()
        extra = {"query": q} if endpoint == "search" else {}
        extra["user_id"] = user_id
        extra["known_user"] = bool(user_id) and user_id in self.recent
        return self._respond(endpoint, model, ids, out["scores"][0], k, category, exclude, extra)

    def _respond(
        self, endpoint, model, ids, scores, k, category, exclude, extra, itself=None
    ) -> dict:
        results, seen = [], set()
        filtered = {"duplicate": 0, "purchased": 0, "category": 0}
        for item, score in zip(ids, scores, strict=True):
            if item in seen:
                filtered["duplicate"] += 1
                continue
            seen.add(item)
            if item == itself:  # /similar: the asked item is not similar to itself
                continue
            if item in exclude:
                filtered["purchased"] += 1
                continue
            meta = self.items.loc[item] if item in self.items.index else None
            cat = "" if meta is None else str(meta.get("category", "") or "")
            if category and not cat.startswith(category):
                filtered["category"] += 1
                continue
            results.append(
                {
                    "item_id": item,
                    "title": "" if meta is None else str(meta.get("title", "")),
                    "category": cat,
                    "score": float(score),
                }
            )
            if len(results) == k:
                break
        return {
            "endpoint": endpoint,
            **extra,
            "model": {"name": model.name, "version": model.version, "ranker": None},
            "filtered": filtered,
            "items": results,
        }
