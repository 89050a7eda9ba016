"""Session intent in real time: the current session folded into the query-side vector.

No retraining: at request time the session's recent items are placed at the end of the query
tower's history input (they become the most recent history), the last search of the session (if
any) is the query text, and the tower's output is blended with the recency-weighted mean of the
session items' embeddings:

    v = normalise((1 - w) * query_tower(query, user, history + session) + w * mean(session))

`w` (`shop.session_weight`) is 0 for "history only"; the offline replay in
`tfrec.evaluation.shop.session_replay` measures next-click Recall@K with and without it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfrec.shop.context import PAD, ShopContext, normalise_rows


def session_history(history: np.ndarray, session_items: Sequence[int], max_history: int):
    """The history input with the session's items appended as the most recent ones (items
    already in the history move to the end), left-padded to `max_history`."""
    session = [int(i) for i in session_items if int(i) != PAD]
    # the last occurrence of an item in the session decides its place
    ordered = list(dict.fromkeys(reversed(session)))[::-1]
    in_session = set(ordered)
    past = [
        int(i) for i in np.asarray(history).reshape(-1) if i != PAD and int(i) not in in_session
    ]
    merged = (past + ordered)[-max_history:]
    out = np.zeros(max_history, np.int64)
    if merged:
        out[max_history - len(merged) :] = merged
    return out


def recency_weights(n: int, half_life: float = 2.0) -> np.ndarray:
    """Weights of n session items, oldest first: the newest weighs 1, halving every
    `half_life` positions back."""
    return 0.5 ** (np.arange(n)[::-1] / half_life)


def session_query_embeddings(
    ctx: ShopContext,
    user_idx: np.ndarray,
    histories: Sequence[np.ndarray],
    sessions: Sequence[Sequence[int]],
    session_queries: Sequence[Sequence[str]] | None = None,
    weight: float = 0.5,
    half_life: float = 2.0,
) -> np.ndarray:
    """Query-side embeddings [B, D] with each row's session folded in.

    Args:
        ctx: ShopContext with a `query_encoder`.
        user_idx: [B] int. The query tower's user index (0 = unknown user).
        histories: B arrays of item rows (most recent last; zeros are padding).
        sessions: B lists of item rows of the current session, oldest first (may be empty).
        session_queries: B lists of the session's searches, oldest first; the last non-empty
            one is the query text. None: no query.
        weight: float in [0, 1]. Blend weight of the session items' mean embedding.
        half_life: float. Recency half-life of the session mean, in items.
    """
    if ctx.query_encoder is None:
        raise ValueError("session intent needs a query encoder: the ShopContext has none")
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"`weight` must be in [0, 1]. Received: weight={weight}")
    n = len(sessions)
    hist = (
        np.stack([session_history(h, s, ctx.max_history) for h, s in zip(histories, sessions)])
        if n
        else np.zeros((0, ctx.max_history), np.int64)
    )
    queries = []
    for row in range(n):
        qs = [q for q in (session_queries[row] if session_queries else ()) if str(q).strip()]
        queries.append(str(qs[-1]).strip() if qs else "")
    q = normalise_rows(ctx.query_encoder(queries, np.asarray(user_idx, np.int64), hist))
    if weight == 0.0:
        return q
    out = q.copy()
    for row, session in enumerate(sessions):
        items = np.asarray([i for i in session if i != PAD], np.int64)
        if len(items):
            w = recency_weights(len(items), half_life)
            mean = (ctx.item_embeddings[items] * w[:, None]).sum(axis=0) / w.sum()
            out[row] = (1 - weight) * q[row] + weight * normalise_rows(mean)
    return normalise_rows(out)
