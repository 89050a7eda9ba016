"""Sessions, engine results, clicks and the funnel (add-to-cart, purchase) of one user block."""

from __future__ import annotations

import numpy as np

from tfrec.config import SyntheticConfig
from tfrec.data.synthetic.catalog import ShopCatalog
from tfrec.data.synthetic.queries import QueryRegistry, render_query
from tfrec.data.synthetic.taxonomy import ATTR_INDEX, BRANDS_PER_LEAF
from tfrec.data.synthetic.users import ShopUsers

USERS_PER_BLOCK = 2000  # users simulated together with one random stream
CANDIDATES_PER_SLOT = 4  # the engine draws this many candidates per shown slot
EXAMINATION_POWER = 0.7
EVENT_CODES = ("impression", "click", "add_to_cart", "purchase")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _sample_segment(
    cat: ShopCatalog, lo: np.ndarray, hi: np.ndarray, r: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Items drawn by popularity from index ranges [lo, hi); returns (items, ok)."""
    c = cat.cum_weight
    u = c[lo] + r * (c[hi] - c[lo])
    idx = np.searchsorted(c, u, side="right") - 1
    ok = hi > lo
    idx = np.clip(idx, lo, np.maximum(hi - 1, lo))
    return np.minimum(idx, cat.n - 1), ok


def simulate_block(
    cfg: SyntheticConfig, cat: ShopCatalog, users: ShopUsers, block: int, queries: QueryRegistry
) -> dict[str, np.ndarray]:
    """Simulate every session of one block of users; returns event rows as arrays.

    Each block has its own random stream (`[cfg.seed, 3, block]`), so the events do not depend
    on how they are chunked into files. Query texts are added to `queries` in order of use.
    `cfg.query_vocab_mismatch` > 0 draws its word choices from a second stream
    (`[cfg.seed, 7, block]`), leaving the first one's draws as they are.

    Args:
        cfg: SyntheticConfig. Session, page and search settings and the seed.
        cat: ShopCatalog. The items and the engine's exposure weights.
        users: ShopUsers. The users' tastes; the block holds users
            `[block * USERS_PER_BLOCK, (block + 1) * USERS_PER_BLOCK)`.
        block: int. The block number.
        queries: QueryRegistry. Filled with the block's new query texts.

    Returns:
        Arrays of one row per event (time-ordered per page): `item`, `event` (an index into
        `EVENT_CODES`), `ts` (seconds), `position`, `quantity`, `user`, `session_k` (the
        user's session number) and `query` (-1 on browse pages).

    Example:
        >>> rows = simulate_block(cfg, cat, users, 0, QueryRegistry())
    """
    rng = np.random.default_rng([cfg.seed, 3, block])
    u0 = block * USERS_PER_BLOCK
    u1 = min(u0 + USERS_PER_BLOCK, users.n)
    ub = np.arange(u0, u1)
    n_leaves = len(cat.leaves)
    k = cfg.impressions_per_page

    # sessions
    ns = users.n_sessions[ub]
    s_user = np.repeat(ub, ns)
    s_k = np.arange(len(s_user)) - np.repeat(np.cumsum(ns) - ns, ns)
    S = len(s_user)
    lo_t = np.maximum(cat.window_start, users.signup[s_user])
    hi_t = cat.window_end - 6 * 3600  # sessions end before the window does
    t0 = lo_t + (rng.random(S) * (hi_t - lo_t)).astype(np.int64)
    order = np.lexsort((t0, s_user))
    t0 = t0[order]  # sessions of a user numbered in time order
    is_search = rng.random(S) < cfg.search_session_share
    # the leaf a search session is about: mostly the user's taste
    tj = (users.taste_cum[s_user] < rng.random(S)[:, None]).sum(axis=1)
    taste_leaf = users.taste[s_user, np.minimum(tj, users.MAX_TASTES - 1)]
    taste_leaf = np.where(taste_leaf >= 0, taste_leaf, users.taste[s_user, 0])
    global_leaf = np.minimum(
        np.searchsorted(cat.leaf_traffic_cum, rng.random(S), side="right"), n_leaves - 1
    )
    s_leaf = np.where(rng.random(S) < 0.75, taste_leaf, global_leaf)
    s_leaf = np.where(cat.leaf_count[s_leaf] > 0, s_leaf, taste_leaf)
    n_pages = np.minimum(rng.geometric(np.where(is_search, 0.65, 0.75)), 4)

    # pages
    P = int(n_pages.sum())
    p_sess = np.repeat(np.arange(S), n_pages)
    p_idx = np.arange(P) - np.repeat(np.cumsum(n_pages) - n_pages, n_pages)
    gap = np.where(p_idx == 0, 0, 40 + rng.exponential(120.0, P).astype(np.int64))
    cs = np.cumsum(gap)
    p_time = t0[p_sess] + cs - cs[(np.cumsum(n_pages) - n_pages)[p_sess]]
    p_user = s_user[p_sess]
    p_search = is_search[p_sess]
    p_leaf = s_leaf[p_sess]

    # search intents: head (no attributes), torso (one attribute), tail (brand + attributes)
    r = rng.random((P, 6))
    later = p_idx > 0
    head_p = np.where(later, 0.2, 0.45)
    tail_p = np.where(later, 0.35, 0.2)
    qtype = np.where(r[:, 0] < head_p, 0, np.where(r[:, 0] > 1 - tail_p, 2, 1))
    nslots = cat.leaf_nslots[p_leaf]
    qtype = np.where((nslots == 0) & (qtype == 1), 0, qtype)
    cons = np.full((P, 3), -1, dtype=np.int64)
    slot_a = (r[:, 1] * np.maximum(nslots, 1)).astype(np.int64)
    slot_b = (slot_a + 1 + (r[:, 2] * np.maximum(nslots - 1, 1)).astype(np.int64)) % np.maximum(
        nslots, 1
    )
    use_a = (qtype >= 1) & (nslots > 0)
    use_b = (qtype == 2) & (nslots >= 2) & (r[:, 3] < 0.5)
    vr = rng.random((P, 2))
    for slot, use, v in ((slot_a, use_a, vr[:, 0]), (slot_b, use_b, vr[:, 1])):
        t = cat.leaf_slot_type[p_leaf, slot]
        tt = np.maximum(t, 0)
        val = (v * cat.type_nvals[tt]).astype(np.int64)
        val = np.where(tt == ATTR_INDEX["gender"], users.gender[p_user], val)
        val = np.where(tt == ATTR_INDEX["shoe_size"], users.shoe[p_user], val)
        val = np.where(tt == ATTR_INDEX["clothing_size"], users.cloth[p_user], val)
        val = np.where((tt == ATTR_INDEX["colour"]) & (v < 0.5), users.colour[p_user], val)
        rows = np.flatnonzero(use & (t >= 0))
        cons[rows, slot[rows]] = val[rows]
    # brand: the user's favourite when the leaf sells it, else a popular brand of the leaf
    br = rng.random((P, 2))
    leaf_brand = cat.leaf_brands[
        p_leaf,
        np.minimum(
            np.searchsorted(cat.leaf_brand_cum, br[:, 0], side="right"), BRANDS_PER_LEAF - 1
        ),
    ]
    fav = users.pref_brand[p_user, 0]
    fav_sold = (cat.leaf_brands[p_leaf] == fav[:, None]).any(axis=1)
    brand = np.where(fav_sold & (br[:, 1] < 0.7), fav, leaf_brand)
    p_brand = np.where(qtype == 2, brand, -1)

    # query texts (search pages only)
    p_query = np.full(P, -1, dtype=np.int64)
    p_kind = np.zeros(P, dtype=np.int64)
    qr = rng.random((P, 10))
    # vocabulary mismatch draws come from their own stream: with the option off, none is made
    mm = cfg.query_vocab_mismatch
    mr = np.random.default_rng([cfg.seed, 7, block]).random((P, 8)) if mm > 0 else None
    for p in np.flatnonzero(p_search):
        text, kind = render_query(
            cat,
            int(p_leaf[p]),
            cons[p],
            int(p_brand[p]),
            qr[p],
            mm,
            None if mr is None else mr[p],
        )
        intent = (
            int(p_leaf[p]),
            int(cons[p, 0]),
            int(cons[p, 1]),
            int(cons[p, 2]),
            int(p_brand[p]),
        )
        p_query[p] = queries.add(text, intent)
        p_kind[p] = kind

    # does the engine understand the query? canonical yes, known synonyms mostly, typos half
    ur = rng.random(P)
    understood = np.select(
        [p_kind == 0, p_kind == 1, p_kind == 2], [ur < 0.95, ur < 0.85, ur < 0.0], ur < 0.5
    )

    # candidates: M per page, from leaf / mid / department / catalog segments by popularity
    M = CANDIDATES_PER_SLOT * k
    src_r = rng.random((P, M))
    # browse pages draw each candidate's leaf from the user's tastes
    tw = users.taste_cum[p_user]  # (P, T)
    tsel = (tw[:, None, :] < rng.random((P, M))[:, :, None]).sum(axis=2)
    b_leaf = users.taste[p_user[:, None], np.minimum(tsel, users.MAX_TASTES - 1)]
    b_leaf = np.where(b_leaf >= 0, b_leaf, users.taste[p_user, 0][:, None])
    s_leaf_m = np.broadcast_to(p_leaf[:, None], (P, M))
    search_m = np.broadcast_to(p_search[:, None], (P, M))
    und_m = np.broadcast_to(understood[:, None], (P, M))
    base_leaf = np.where(search_m, s_leaf_m, b_leaf)
    # source: 0 leaf, 1 mid, 2 department, 3 catalog
    cuts_und = np.array([0.70, 0.85, 0.92])
    cuts_not = np.array([0.25, 0.25, 0.55])
    cuts_browse = np.array([0.45, 0.60, 0.70])
    cuts = np.where(
        search_m[..., None], np.where(und_m[..., None], cuts_und, cuts_not), cuts_browse
    )
    source = (src_r[..., None] >= cuts).sum(axis=2)
    mid = cat.leaf_mid[base_leaf]
    top = cat.leaf_top[base_leaf]
    lo = np.select(
        [source == 0, source == 1, source == 2],
        [cat.leaf_lo[base_leaf], cat.mid_lo[mid], cat.top_lo[top]],
        0,
    )
    hi = np.select(
        [source == 0, source == 1, source == 2],
        [cat.leaf_hi[base_leaf], cat.mid_hi[mid], cat.top_hi[top]],
        cat.n,
    )
    cand, ok = _sample_segment(cat, lo, hi, rng.random((P, M)))
    ok &= cat.item_created[cand] <= p_time[:, None]
    # duplicates within a page count once
    srt = np.argsort(cand, axis=1, kind="stable")
    cs_sorted = np.take_along_axis(cand, srt, axis=1)
    dup_sorted = np.zeros_like(ok)
    dup_sorted[:, 1:] = cs_sorted[:, 1:] == cs_sorted[:, :-1]
    dup = np.zeros_like(ok)
    np.put_along_axis(dup, srt, dup_sorted, axis=1)
    ok &= ~dup

    # engine score: popularity + lexical/category match (search) or taste match (browse) + noise
    c_leaf = cat.item_leaf[cand]
    c_taste = _taste_weight(users, p_user, c_leaf)
    lexical = np.zeros((P, M))
    same_leaf = c_leaf == p_leaf[:, None]
    for s in range(3):
        cs_ = cons[:, s][:, None]
        lexical += (same_leaf & (cs_ >= 0) & (cat.item_attr[cand, s] == cs_)) * 1.0
    lexical *= und_m
    brand_hit = (p_brand[:, None] >= 0) & (cat.item_brand[cand] == p_brand[:, None])
    score = np.where(
        search_m,
        2.5 * (same_leaf & und_m) + lexical + 1.5 * brand_hit,
        1.5 * c_taste,
    )
    score = score + 0.6 * np.log(cat.item_weight[cand]) + rng.gumbel(0.0, 1.0, (P, M))
    score = np.where(ok, score, -np.inf)
    top_k = np.argsort(-score, axis=1, kind="stable")[:, :k]
    shown = np.take_along_axis(cand, top_k, axis=1)
    valid = np.isfinite(np.take_along_axis(score, top_k, axis=1))
    pos = np.broadcast_to(np.arange(1, k + 1)[None, :], (P, k))

    # attractiveness from the true intent and the user's taste
    i_leaf = cat.item_leaf[shown]
    same = i_leaf == p_leaf[:, None]
    attr_ok = np.ones((P, k), dtype=bool)
    for s in range(3):
        cs_ = cons[:, s][:, None]
        attr_ok &= (cs_ < 0) | (cat.item_attr[shown, s] == cs_)
    brand_ok = (p_brand[:, None] < 0) | (cat.item_brand[shown] == p_brand[:, None])
    same_mid = cat.leaf_mid[i_leaf] == cat.leaf_mid[p_leaf][:, None]
    rel = np.where(same & attr_ok & brand_ok, 3, np.where(same, 2, np.where(same_mid, 1, 0)))
    taste_w = _taste_weight(users, p_user, i_leaf)
    taste_mid = _taste_mid(cat, users, p_user, i_leaf)
    u_col = p_user[:, None]
    pref = (cat.item_brand[shown][..., None] == users.pref_brand[u_col]).any(axis=2)
    gender = cat.item_gender[shown]
    g_term = np.where(gender < 0, 0.0, np.where(gender == users.gender[u_col], 0.4, -1.6))
    size = cat.item_size[shown]
    kind_ = cat.item_size_kind[shown]
    user_size = np.where(kind_ == 0, users.shoe[u_col], users.cloth[u_col])
    sz_term = np.where(kind_ < 0, 0.0, np.where(size == user_size, 0.5, -0.7))
    col_term = 0.5 * (cat.item_colour[shown] == users.colour[u_col])
    price_term = -0.9 * users.beta[u_col] * cat.item_log_price_ratio[shown]
    personal = 0.9 * pref + g_term + sz_term + col_term + price_term + 0.45 * cat.item_appeal[shown]
    logit = np.where(
        p_search[:, None],
        -5.4 + 1.3 * rel + 0.8 * taste_w,
        -5.6 + 1.6 * (taste_w > 0) + 1.2 * taste_w + 0.6 * taste_mid,
    )
    logit = logit + personal
    p_click = _sigmoid(logit) / pos**EXAMINATION_POWER
    click = valid & (rng.random((P, k)) < p_click)
    rel_term = np.where(p_search[:, None], 0.35 * (rel - 2), 0.0)
    value = (
        0.5 * pref
        + 0.3 * cat.item_appeal[shown]
        - 0.4 * users.beta[u_col] * cat.item_log_price_ratio[shown]
    )
    atc = click & (rng.random((P, k)) < _sigmoid(-1.6 + rel_term + value))
    buy = atc & (rng.random((P, k)) < _sigmoid(-0.9 + value))
    cheap = cat.item_price[shown] < 25
    qty = 1 + rng.poisson(np.where(cheap, 0.35, 0.06))

    # timestamps: clicks a few seconds after the page, then cart, then checkout
    t_page = np.broadcast_to(p_time[:, None], (P, k))
    t_click = t_page + 1 + 2 * pos + rng.exponential(12.0, (P, k)).astype(np.int64)
    t_atc = t_click + 5 + rng.exponential(60.0, (P, k)).astype(np.int64)
    t_buy = t_atc + 30 + rng.exponential(400.0, (P, k)).astype(np.int64)
    last = cat.window_end - 1

    parts = []
    for code, mask, ts in (
        (0, valid, t_page),
        (1, click, t_click),
        (2, atc, t_atc),
        (3, buy, t_buy),
    ):
        pr, col = np.nonzero(mask)
        parts.append(
            {
                "page": pr,
                "item": shown[pr, col],
                "event": np.full(len(pr), code, dtype=np.int8),
                "ts": np.minimum(ts[pr, col], last),
                "position": col + 1,
                "quantity": np.where(code == 3, qty[pr, col], np.nan).astype(float),
            }
        )
    rows = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    order = np.lexsort((rows["position"], rows["event"], rows["ts"], rows["page"]))
    rows = {key: v[order] for key, v in rows.items()}
    pg = rows.pop("page")
    rows["user"] = p_user[pg]
    rows["session_k"] = s_k[p_sess[pg]]
    rows["query"] = p_query[pg]
    return rows


def _taste_weight(users: ShopUsers, user: np.ndarray, leaf: np.ndarray) -> np.ndarray:
    """The user's taste weight of each leaf (0 for leaves outside their tastes)."""
    t = users.taste[user]  # (P, T)
    w = users.taste_w[user]
    hit = leaf[..., None] == t[:, None, :]
    return (hit * w[:, None, :]).sum(axis=2)


def _taste_mid(
    cat: ShopCatalog, users: ShopUsers, user: np.ndarray, leaf: np.ndarray
) -> np.ndarray:
    t = users.taste[user]
    tm = np.where(t >= 0, cat.leaf_mid[np.maximum(t, 0)], -1)
    return (cat.leaf_mid[leaf][..., None] == tm[:, None, :]).any(axis=2).astype(float)
