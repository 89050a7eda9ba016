"""Each shop capability measured on the held-out (test) period.

Everything is built from the training split only (popularity, co-occurrence, user histories),
and scored on the test split:

- `feed`: home feed per held-out user: the trained towers against popularity, for all users,
  users with a history and users without one (cold users: the feed serves them popularity);
- `session`: replay of held-out sessions; at each position t the next clicked item is predicted
  from the state before t: the user's history only, + the session's items in the history input,
  + the blend with the session mean (`shop.session_weight`), + the session's earlier searches;
  next-click Recall@K (one target, so Recall@K = HitRate@K), for all users and users without
  history;
- `cold_start`: the cold-item slice (relevant items first seen or launched after the training
  cutoff) of feed and search, with cold items embedded from their content by
  `tfrec.shop.cold_start.embed_new_items` (text encoder + item tower) versus their catalog rows
  and popularity; cold users are in `feed` and `session`;
- `similar`: share of the top 10 in the anchor's leaf category (random items: the base rate), and
  HitRate@10 of held-out co-clicks (pairs of items clicked in the same test session) per
  dimension and combined;
- `complementary`: held-out co-purchase Recall@K (items added to cart or bought in the same test
  session / invoice) of frequently-bought-together against popularity, with and without the
  "prefer another category" switch, and the share of same-category results;
- `explanations`: share of feed items whose explanation names a history item, a co-purchase or
  co-view, and the mean similarity to the closest history item;
- `diversity`: MMR over the trained feed's top candidates for each lambda in
  `shop.mmr_lambdas`: NDCG@10, Recall@10, intra-list diversity, category diversity and catalog
  coverage (plotted).

`evaluate_shop` returns the figures; the `shop` stage (`tfrec.stages.shop`) writes them to
metrics.json (`shop`) and report/shop.html (`tfrec.report.shop`).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.core.topk import top_k
from tfrec.data.prepared import PreparedData
from tfrec.evaluation.metrics import ranking_metrics
from tfrec.models.retrieval import RetrievalModel
from tfrec.shop.cold_start import embed_new_items
from tfrec.shop.complementary import complementary_scores
from tfrec.shop.context import ModelQueryEncoder, ShopContext
from tfrec.shop.cooccurrence import CoCounts
from tfrec.shop.diversity import (
    catalog_coverage,
    category_diversity,
    intra_list_diversity,
    mmr_rerank,
)
from tfrec.shop.explain import explain_item
from tfrec.shop.session import session_query_embeddings
from tfrec.shop.similar import DIMENSIONS, check_weights, similar_scores
from tfrec.text.encoder import TextEncoder
from tfrec.text.frozen import make_text_encoder


def _sample(frame: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    if limit and len(frame) > limit:
        frame = frame.sample(limit, random_state=seed)
    return frame.reset_index(drop=True)


def _hit_rates(ranked: np.ndarray, targets: list[np.ndarray], ks) -> dict[str, float]:
    out = {}
    for k in ks:
        hits = [np.isin(ranked[r, :k], t).any() for r, t in enumerate(targets)]
        out[f"hitrate@{k}"] = float(np.mean(hits)) if hits else 0.0
    return out


def _recalls(ranked: np.ndarray, targets: list[np.ndarray], ks) -> dict[str, float]:
    out = {}
    for k in ks:
        vals = [np.isin(t, ranked[r, :k]).mean() for r, t in enumerate(targets)]
        out[f"recall@{k}"] = float(np.mean(vals)) if vals else 0.0
    return out


def _embed(ctx: ShopContext, user_idx, histories, sessions=None, queries=None, weight=0.0):
    out = []
    n = len(user_idx)
    sessions = sessions if sessions is not None else [[] for _ in range(n)]
    for start in range(0, n, 512):
        sl = slice(start, start + 512)
        out.append(
            session_query_embeddings(
                ctx,
                np.asarray(user_idx)[sl],
                histories[sl],
                sessions[sl],
                queries[sl] if queries is not None else None,
                weight=weight,
            )
        )
    return np.concatenate(out) if out else np.zeros((0, ctx.item_embeddings.shape[1]))


# ------------------------------------------------------------------------------------------------
# Feed, cold users
# ------------------------------------------------------------------------------------------------


def feed_metrics(ctx: ShopContext, data, ks, limit: int = 0, seed: int = 0) -> dict:
    """Home-feed metrics on held-out users: trained towers, popularity, and the home_feed policy
    (towers for users with a history, popularity for the others)."""
    inst = _sample(data.feed_eval["test"], limit, seed)
    if inst.empty:
        return {"instances": 0}
    hist = list(inst["history"])
    emb = _embed(ctx, inst["user_idx"].to_numpy(), hist)
    max_k = max(ks)
    trained = top_k(emb @ ctx.item_embeddings.T, max_k)
    pop_scores = np.broadcast_to(ctx.popularity, (len(inst), ctx.num_items))
    popular = top_k(pop_scores, max_k)
    has_history = np.array([(h > 0).any() for h in hist])
    known = has_history | (inst["user_idx"].to_numpy() > 0)
    policy = np.where(known[:, None], trained, popular)
    pos, gains = list(inst["positives"]), list(inst["gains"])
    out: dict = {"instances": len(inst), "slices": {}}
    for name, rows in (
        ("all", np.arange(len(inst))),
        ("with_history", np.flatnonzero(known)),
        ("no_history", np.flatnonzero(~known)),
    ):
        if not len(rows):
            continue
        sl = {"instances": len(rows)}
        for model, ranked in (("trained", trained), ("popularity", popular), ("home_feed", policy)):
            sl[model] = ranking_metrics(
                ranked[rows], [pos[r] for r in rows], [gains[r] for r in rows], ks
            )
        out["slices"][name] = sl
    out["_ranked"] = trained
    out["_emb"] = emb
    out["_inst"] = inst
    return out


# ------------------------------------------------------------------------------------------------
# Session intent
# ------------------------------------------------------------------------------------------------


def session_positions(data, split: str = "test") -> pd.DataFrame:
    """One row per (held-out session, position t >= 1) whose item at t is not earlier in the
    session: the state before t (items, searches), the history at the session's start, and the
    target item."""
    r = data.retrieval[data.retrieval.split == split].sort_values(
        ["session_id", "timestamp"], kind="stable"
    )
    rows = []
    for _, g in r.groupby("session_id", sort=False):
        if len(g) < 2:
            continue
        items = g["item_idx"].to_numpy()
        queries = g["query"].tolist()
        first = g.iloc[0]
        for t in range(1, len(g)):
            if items[t] in items[:t]:
                continue
            rows.append(
                {
                    "user_idx": int(first.user_idx),
                    "history": first.history,
                    "session": list(dict.fromkeys(items[:t].tolist())),
                    "queries": [q for q in queries[:t] if q],
                    "target": int(items[t]),
                }
            )
    return pd.DataFrame(rows, columns=["user_idx", "history", "session", "queries", "target"])


def session_replay(
    ctx: ShopContext, data, ks, weight: float, limit: int = 0, seed: int = 0
) -> dict:
    """Next-click Recall@K on held-out sessions with and without the session signal."""
    pos = _sample(session_positions(data), limit, seed)
    if pos.empty:
        return {"positions": 0}
    n = len(pos)
    hist = list(pos["history"])
    sessions = list(pos["session"])
    queries = list(pos["queries"])
    users = pos["user_idx"].to_numpy()
    exclude = [np.asarray(s, np.int64) for s in sessions]
    targets = [np.array([t]) for t in pos["target"]]
    max_k = max(ks)
    empty = [[] for _ in range(n)]
    variants = {
        "no_session": _embed(ctx, users, hist, empty, None, 0.0),
        "session_in_history": _embed(ctx, users, hist, sessions, None, 0.0),
        f"session_blend_w{weight:g}": _embed(ctx, users, hist, sessions, None, weight),
        f"session_blend_w{weight:g}+queries": _embed(ctx, users, hist, sessions, queries, weight),
    }
    ranked = {
        name: top_k(e @ ctx.item_embeddings.T, max_k, exclude) for name, e in variants.items()
    }
    ranked["popularity"] = top_k(
        np.broadcast_to(ctx.popularity, (n, ctx.num_items)), max_k, exclude
    )
    no_hist = np.array([not (h > 0).any() for h in hist]) & (users == 0)
    out: dict = {"positions": n, "sessions_weight": weight, "slices": {}}
    for name, rows in (("all", np.arange(n)), ("no_history", np.flatnonzero(no_hist))):
        if not len(rows):
            continue
        out["slices"][name] = {"positions": len(rows)}
        for model, rk in ranked.items():
            out["slices"][name][model] = _recalls(rk[rows], [targets[r] for r in rows], ks)
    return out


# ------------------------------------------------------------------------------------------------
# Cold items
# ------------------------------------------------------------------------------------------------


def cold_item_metrics(
    ctx: ShopContext, data, model, ks, text_encoder=None, limit: int = 0, seed: int = 0
) -> dict:
    """Cold-item slice of feed and search, with cold items' embeddings recomputed from their
    content (as an item added after training would be) next to their catalog rows."""
    cold = np.flatnonzero(data.cold_items)
    out: dict = {"cold_items": len(cold)}
    if not len(cold):
        return out
    content = ctx.item_embeddings.copy()
    if text_encoder is not None or model.item_text_encoder is not None:
        c = data.catalog
        items = pd.DataFrame(
            {
                "item_id": [c.item_ids[i] for i in cold],
                "title": [c.titles[i] for i in cold],
                "description": [
                    c.texts[i][len(c.titles[i]) + 2 :] if c.texts[i] != c.titles[i] else ""
                    for i in cold
                ],
                "category": [c.categories[i] for i in cold],
                "brand": [c.brands[i] for i in cold],
                "price": [c.prices[i] for i in cold],
            }
        )
        t0 = time.time()
        emb, _, _ = embed_new_items(model, c, items, text_encoder)
        out["content_embedding_seconds"] = round(time.time() - t0, 2)
        out["content_vs_catalog_max_abs_diff"] = float(
            np.abs(emb - ctx.item_embeddings[cold]).max()
        )
        content[cold] = emb
    for task, frame in (("feed", data.feed_eval["test"]), ("search", data.search_eval["test"])):
        inst = _sample(frame, limit, seed)
        keep = [data.cold_items[p] for p in inst["positives"]]
        rows = [i for i, k in enumerate(keep) if k.any()]
        if not rows:
            continue
        inst = inst.iloc[rows].reset_index(drop=True)
        pos = [p[data.cold_items[p]] for p in inst["positives"]]
        gains = [g[data.cold_items[p]] for p, g in zip(inst["positives"], inst["gains"])]
        queries = [[q] for q in inst["query"]] if "query" in inst else None
        emb = _embed(ctx, inst["user_idx"].to_numpy(), list(inst["history"]), None, queries, 0.0)
        max_k = max(ks)
        res = {"instances": len(inst)}
        res["trained_catalog"] = ranking_metrics(
            top_k(emb @ ctx.item_embeddings.T, max_k), pos, gains, ks
        )
        res["trained_content"] = ranking_metrics(top_k(emb @ content.T, max_k), pos, gains, ks)
        pop = np.broadcast_to(ctx.popularity, (len(inst), ctx.num_items))
        res["popularity"] = ranking_metrics(top_k(pop, max_k), pos, gains, ks)
        out[task] = res
    return out


# ------------------------------------------------------------------------------------------------
# Similar and complementary items
# ------------------------------------------------------------------------------------------------


def held_out_pairs(data, min_strength: int, split: str = "test") -> CoCounts:
    r = data.retrieval[(data.retrieval.split == split) & (data.retrieval.strength >= min_strength)]
    return CoCounts.from_sessions(r["session_id"], r["item_idx"].to_numpy(), len(data.catalog))


def similar_metrics(ctx: ShopContext, data, weights, k: int = 10, limit: int = 500, seed: int = 0):
    """Same-leaf share of the top k per dimension (and random), and held-out co-click HitRate@k."""
    rng = np.random.default_rng(seed)
    pairs = held_out_pairs(data, 1)
    anchors_with_pairs = np.flatnonzero(np.diff(pairs.indptr) > 0)
    anchors_with_pairs = anchors_with_pairs[ctx.popularity[anchors_with_pairs] > 0]
    catalog = np.arange(1, ctx.num_items)
    anchors = rng.choice(catalog, min(limit, len(catalog)), replace=False)
    if len(anchors_with_pairs) > limit:
        anchors_with_pairs = rng.choice(anchors_with_pairs, limit, replace=False)
    setups = {d: {d: 1.0} for d in DIMENSIONS}
    setups["combined"] = weights
    out: dict = {"k": k, "anchors": len(anchors), "co_click_anchors": len(anchors_with_pairs)}
    has_leaf = ctx.leaf_idx > 0
    for name, w in setups.items():
        same, hits = [], []
        for a in anchors:
            total, _ = similar_scores(ctx, int(a), w)
            top = top_k(total, k)
            if has_leaf[a]:
                same.append(float((ctx.leaf_idx[top] == ctx.leaf_idx[a]).mean()))
        for a in anchors_with_pairs:
            total, _ = similar_scores(ctx, int(a), w)
            top = top_k(total, k)
            hits.append(float(np.isin(pairs.row(int(a))[0], top).any()))
        out[name] = {
            "same_leaf_share": float(np.mean(same)) if same else None,
            "co_click_hitrate": float(np.mean(hits)) if hits else None,
        }
    rand_same = [
        float((ctx.leaf_idx[rng.choice(catalog, k)] == ctx.leaf_idx[a]).mean())
        for a in anchors
        if has_leaf[a]
    ]
    pop_top = ctx.popularity_rank()[: k + 1]
    out["random"] = {"same_leaf_share": float(np.mean(rand_same)) if rand_same else None}
    out["popularity"] = {
        "co_click_hitrate": float(
            np.mean(
                [
                    np.isin(pairs.row(int(a))[0], pop_top[pop_top != a][:k]).any()
                    for a in anchors_with_pairs
                ]
            )
        )
        if len(anchors_with_pairs)
        else None
    }
    return out


def complementary_metrics(ctx: ShopContext, data, ks, cfg_shop, limit: int = 2000, seed: int = 0):
    """Held-out co-purchase Recall@K: for each item of a held-out basket, the basket's other
    items are the targets."""
    baskets = held_out_pairs(data, 2)
    anchors = np.flatnonzero(np.diff(baskets.indptr) > 0)
    if len(anchors) > limit:
        anchors = np.random.default_rng(seed).choice(anchors, limit, replace=False)
    out: dict = {"anchors": len(anchors)}
    if not len(anchors):
        return out
    targets = [baskets.row(int(a))[0] for a in anchors]
    max_k = max(ks)
    exclude = [np.array([a]) for a in anchors]
    ranked = {}
    for name, prefer in (("fbt", False), ("fbt_other_category", True)):
        rows = []
        for a in anchors:
            s, _ = complementary_scores(
                ctx, [int(a)], prefer, cfg_shop.same_category_factor, cfg_shop.substitute_similarity
            )
            rows.append(top_k(s[None, :], max_k)[0])
        ranked[name] = np.stack(rows)
    ranked["popularity"] = top_k(
        np.broadcast_to(ctx.popularity, (len(anchors), ctx.num_items)), max_k, exclude
    )
    has_evidence = np.array([len(ctx.copurchase.row(int(a))[0]) > 0 for a in anchors])
    out["anchors_with_training_copurchases"] = int(has_evidence.sum())
    for name, rk in ranked.items():
        res = _recalls(rk, targets, ks)
        res["same_leaf_share@10"] = (
            float(
                np.mean(
                    [
                        (ctx.leaf_idx[rk[r, :10]] == ctx.leaf_idx[a]).mean()
                        for r, a in enumerate(anchors)
                        if ctx.leaf_idx[a]
                    ]
                )
            )
            if (ctx.leaf_idx[anchors] > 0).any()
            else None
        )
        out[name] = res
    return out


# ------------------------------------------------------------------------------------------------
# Explanations and diversity
# ------------------------------------------------------------------------------------------------


def explanation_metrics(ctx: ShopContext, feed: dict, k: int = 10, limit: int = 300) -> dict:
    inst, ranked = feed["_inst"], feed["_ranked"]
    n_items = 0
    counts = {"history_item": 0, "copurchase": 0, "coview": 0, "any_reason": 0}
    sims = []
    for row in range(min(limit, len(inst))):
        hist = [int(h) for h in inst["history"].iloc[row] if h > 0]
        for item in ranked[row, :k]:
            e = explain_item(ctx, int(item), hist)
            n_items += 1
            counts["any_reason"] += bool(e["reasons"])
            if "closest_history_item" in e:
                counts["history_item"] += 1
                sims.append(e["closest_history_item"]["similarity"])
            counts["copurchase"] += "copurchase" in e
            counts["coview"] += "coview" in e
    out = {f"share_{k_}": v / max(n_items, 1) for k_, v in counts.items()}
    out["items_explained"] = n_items
    out["mean_closest_history_similarity"] = float(np.mean(sims)) if sims else None
    return out


def diversity_tradeoff(ctx: ShopContext, feed: dict, lambdas, k: int = 10, candidates: int = 100):
    inst, emb = feed["_inst"], feed["_emb"]
    scores = emb @ ctx.item_embeddings.T
    pool = top_k(scores, candidates)
    pos, gains = list(inst["positives"]), list(inst["gains"])
    rows = []
    for lam in lambdas:
        lists = np.stack(
            [
                mmr_rerank(pool[r], scores[r, pool[r]], ctx.item_embeddings, k, lam)
                for r in range(len(inst))
            ]
        )
        m = ranking_metrics(lists, pos, gains, [k])
        rows.append(
            {
                "lambda": float(lam),
                f"ndcg@{k}": m[f"ndcg@{k}"],
                f"recall@{k}": m[f"recall@{k}"],
                "intra_list_diversity": intra_list_diversity(lists, ctx.item_embeddings),
                "category_diversity": category_diversity(lists, ctx.leaf_idx),
                "catalog_coverage": catalog_coverage(lists, ctx.num_items),
            }
        )
    return rows


# ------------------------------------------------------------------------------------------------
# Every capability
# ------------------------------------------------------------------------------------------------


def evaluate_shop(
    cfg: Config,
    data: PreparedData,
    model: RetrievalModel,
    text_encoder: TextEncoder | None = None,
) -> dict:
    """Every shop capability measured on the test period, with popularity, co-occurrence and
    histories from the training split.

    Args:
        cfg: the run's config (`shop`, `evaluation.ks`, `seed`, `text` for cold items).
        data: the run's prepared data.
        model: the trained retrieval model.
        text_encoder: a frozen `TextEncoder` to embed cold items' texts with; built from
            `cfg.text` when cold items need one and the model has none.

    Returns:
        {"metrics": the `shop` section of metrics.json (feed, session, cold_start, similar,
        complementary, explanations, diversity, seconds), "notes": the report page's notes}.

    Example:
        >>> out = evaluate_shop(cfg, data, model)  # doctest: +SKIP
        >>> out["metrics"]["feed"]["slices"]["all"]["trained"]["recall@10"]  # doctest: +SKIP
    """
    t0 = time.time()
    s = cfg.shop
    check_weights(s.similar_weights)
    ctx = ShopContext.from_prepared(
        data,
        model.all_item_embeddings(),
        model.item_text_table.numpy(),
        ModelQueryEncoder(model, data.queries),
        splits=("train",),
    )
    ks = sorted(cfg.evaluation.ks)
    seed = cfg.seed
    m: dict = {}
    feed = feed_metrics(ctx, data, ks, s.max_eval_instances, seed)
    echo(f"[shop] feed: {feed['instances']} held-out users")
    m["session"] = session_replay(ctx, data, ks, s.session_weight, s.max_eval_instances, seed)
    echo(f"[shop] session replay: {m['session']['positions']} positions")
    if text_encoder is None and model.item_text_encoder is None and data.cold_items.any():
        text_encoder = make_text_encoder(cfg, mode="frozen")
    m["cold_start"] = cold_item_metrics(
        ctx, data, model, ks, text_encoder, s.max_eval_instances, seed
    )
    echo(f"[shop] cold start: {m['cold_start']['cold_items']} cold items")
    m["similar"] = similar_metrics(ctx, data, s.similar_weights, 10, s.max_similar_anchors, seed)
    m["complementary"] = complementary_metrics(ctx, data, ks, s, s.max_eval_instances, seed)
    if feed["instances"]:
        m["explanations"] = explanation_metrics(ctx, feed)
        m["diversity"] = diversity_tradeoff(ctx, feed, s.mmr_lambdas, 10, s.mmr_candidates)
    else:
        m["explanations"], m["diversity"] = {}, []
    m["feed"] = {k: v for k, v in feed.items() if not k.startswith("_")}
    m["seconds"] = round(time.time() - t0, 1)
    notes = [
        f"Run {cfg.name}: {len(data.catalog) - 1} items; popularity, co-occurrence and histories "
        f"from training events (before {data.cutoffs['val_start']}); scored on the test period "
        f"from {data.cutoffs['test_start']}.",
    ]
    return {"metrics": m, "notes": notes}
