"""The personalised home feed: user (+ current session) -> items, with no query.

`home_feed(ctx, user_id, session_items=...)` never fails on who is asking:

- a known user (or one with a history): the query tower on the user id and recent items, with
  the session folded in (`tfrec.shop.session`) — source `personalised`;
- an unknown user with a session: the same tower on the session alone — source `session`;
- an unknown user without a session: the most popular items — source `popularity`.

Session item ids that are not in the catalog are skipped and listed in `unknown_session_items`.
Items the user already interacted with (and the session's items) are left out unless
`exclude_seen=False`; MMR re-ranking (`mmr_lambda` < 1) diversifies the list.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfrec.core.topk import top_k
from tfrec.shop.context import PAD, ShopContext
from tfrec.shop.diversity import mmr_rerank
from tfrec.shop.explain import explain_item
from tfrec.shop.hybrid import check_retriever, check_weight, hybrid_scores
from tfrec.shop.retrieve import dense_scores
from tfrec.shop.session import session_query_embeddings


def _top(scores: np.ndarray, k: int, exclude: np.ndarray) -> np.ndarray:
    return top_k(scores, k, exclude=exclude, exclude_all=[PAD], finite_only=True)


def home_feed(
    ctx: ShopContext,
    user_id: str | None = None,
    session_items: Sequence[str] = (),
    session_queries: Sequence[str] = (),
    k: int = 10,
    exclude_seen: bool = True,
    mmr_lambda: float = 1.0,
    session_weight: float = 0.5,
    explain: bool = False,
    candidates: int = 100,
    index_candidates: int = 0,
) -> dict:
    """The home feed of a user (known or not) and the current session.

    Args:
        ctx: ShopContext.
        user_id: str or None. Unknown ids are served like anonymous visitors.
        session_items: item ids of the current session, oldest first.
        session_queries: searches of the current session, oldest first.
        k: int. Items to return (>= 1).
        exclude_seen: bool. Leave out items the user or session already interacted with.
        mmr_lambda: float in [0, 1]. MMR relevance weight; 1.0 = no re-ranking.
        session_weight: float in [0, 1]. Blend weight of the session mean embedding.
        explain: bool. Add an `explanation` to every item.
        candidates: int. Candidates MMR chooses from.
        index_candidates: int. With an item index attached (`ctx.candidate_search`), the
            fewest items taken from it before exact scoring (`tfrec.shop.retrieve`); the
            request's own need (the pool plus the excluded items) is taken when larger.

    Returns:
        dict with `user_id`, `user_known`, `source`, `unknown_session_items` and `items`
        (each: rank, item_id, title, category, brand, price, score[, explanation]).
    """
    if k < 1:
        raise ValueError(f"`k` must be >= 1. Received: k={k}")
    uid = None if user_id is None else str(user_id)
    user_idx = ctx.user_index.get(uid, 0) if uid is not None else 0
    history = ctx.user_histories.get(uid, np.zeros(0, np.int64)) if uid is not None else []
    history = np.asarray(history, np.int64)
    session, unknown = ctx.known_items(session_items)
    queries = [q for q in session_queries if str(q).strip()]
    known = user_idx > 0 or len(history) > 0
    exclude = np.zeros(0, np.int64)
    if exclude_seen:
        seen = ctx.user_seen.get(uid, np.zeros(0, np.int64)) if uid is not None else []
        exclude = np.unique(np.concatenate([np.asarray(seen, np.int64), session]).astype(np.int64))

    if not known and not session and not queries:
        source = "popularity"
        ranked = ctx.popularity_rank()
        ranked = ranked[~np.isin(ranked, exclude)]
        scores_all = ctx.popularity.astype(np.float64)
        pool = ranked[: max(k, candidates) if mmr_lambda < 1 else k]
    else:
        source = "personalised" if known else "session"
        emb = session_query_embeddings(
            ctx, np.array([user_idx]), [history], [session], [queries], weight=session_weight
        )[0]
        size = max(k, candidates) if mmr_lambda < 1 else k
        scores_all = dense_scores(ctx, emb, max(index_candidates, size + len(exclude)))
        pool = _top(scores_all, size, exclude)
    chosen = (
        mmr_rerank(pool, scores_all[pool], ctx.item_embeddings, k, mmr_lambda)
        if mmr_lambda < 1
        else pool[:k]
    )
    context_items = [*history.tolist(), *session]
    items = []
    for rank, idx in enumerate(chosen, start=1):
        row = {
            "rank": rank,
            **ctx.item_summary(int(idx)),
            "score": round(float(scores_all[idx]), 5),
        }
        if explain:
            row["explanation"] = explain_item(
                ctx, int(idx), context_items, queries[-1] if queries else "", source
            )
        items.append(row)
    return {
        "user_id": uid,
        "user_known": bool(known),
        "source": source,
        "unknown_session_items": unknown,
        "items": items,
    }


def search(
    ctx: ShopContext,
    query: str,
    user_id: str | None = None,
    session_items: Sequence[str] = (),
    k: int = 10,
    explain: bool = False,
    mmr_lambda: float = 1.0,
    candidates: int = 100,
    retriever: str = "dense",
    hybrid_weight: float = 0.5,
    hybrid_depth: int = 200,
    index_candidates: int = 0,
) -> dict:
    """Search: the query (plus who asks and their session) against every item; MMR re-ranks
    the top `candidates` when `mmr_lambda` < 1.

    Args:
        ctx: ShopContext.
        query: str. The search text (not empty).
        user_id: str or None. A known user's history personalises the dense side.
        session_items: item ids of the current session, oldest first.
        k: int. Items to return.
        explain: bool. Add an `explanation` to every item.
        mmr_lambda: float in [0, 1]. MMR relevance weight; 1.0 = no re-ranking.
        candidates: int. Candidates MMR chooses from.
        retriever: `dense` (the two-tower model; `score` = the dot product) or `hybrid`
            (reciprocal-rank fusion of the dense and the BM25 top `hybrid_depth`,
            `tfrec.shop.hybrid`; `score` = the fused score). Defaults to `dense`.
        hybrid_weight: float in [0, 1]. The BM25 share of the fusion (0 = dense order).
        hybrid_depth: int. Candidates each retriever brings to the fusion.
        index_candidates: int. With an item index attached (`ctx.candidate_search`), the
            fewest items taken from it before exact scoring (`tfrec.shop.retrieve`); the
            request's own need (the pool, `hybrid_depth` for hybrid) is taken when larger.

    Returns:
        dict with `query`, `user_id`, `unknown_session_items`, `retriever` and `items`.

    Example:
        >>> search(ctx, "red mug", k=5, retriever="hybrid")["items"][0]["item_id"]  # doctest: +SKIP
    """
    check_retriever(retriever)
    check_weight(hybrid_weight)
    if not str(query).strip():
        raise ValueError("the query is empty: use home_feed for query-less recommendations")
    if ctx.query_encoder is None:
        raise ValueError("search needs a query encoder: the ShopContext has none")
    uid = None if user_id is None else str(user_id)
    user_idx = ctx.user_index.get(uid, 0) if uid is not None else 0
    history = np.asarray(ctx.user_histories.get(uid, []) if uid is not None else [], np.int64)
    session, unknown = ctx.known_items(session_items)
    emb = session_query_embeddings(
        ctx, np.array([user_idx]), [history], [session], [[query]], weight=0.0
    )[0]
    size = max(k, candidates) if mmr_lambda < 1 else k
    need = max(size, hybrid_depth) if retriever == "hybrid" else size
    scores = dense_scores(ctx, emb, max(index_candidates, need))
    if retriever == "hybrid":
        lexical = ctx.lexical_index().scores(str(query))
        scores = hybrid_scores(scores, lexical, hybrid_weight, hybrid_depth)
    pool = _top(scores, size, np.zeros(0, np.int64))
    chosen = (
        mmr_rerank(pool, scores[pool], ctx.item_embeddings, k, mmr_lambda)
        if mmr_lambda < 1
        else pool[:k]
    )
    items = []
    for rank, idx in enumerate(chosen, start=1):
        row = {"rank": rank, **ctx.item_summary(int(idx)), "score": round(float(scores[idx]), 5)}
        if explain:
            row["explanation"] = explain_item(
                ctx, int(idx), [*history.tolist(), *session], query, "search"
            )
        items.append(row)
    return {
        "query": query,
        "user_id": uid,
        "unknown_session_items": unknown,
        "retriever": retriever,
        "items": items,
    }
