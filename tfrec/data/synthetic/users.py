"""Synthetic users: latent tastes, sizes, price sensitivity, activity and sign-up."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tfrec.config import SyntheticConfig
from tfrec.data.synthetic.catalog import ShopCatalog
from tfrec.data.synthetic.taxonomy import ATTRS_BY_NAME, COUNTRIES, COUNTRY_WEIGHTS


class ShopUsers:
    """Latent user tastes as arrays: leaves, brands, colour, sizes, price sensitivity, activity.

    Draws from its own random stream (`[cfg.seed, 2]`).

    Args:
        cfg: SyntheticConfig. `num_users`, `sessions_per_user`, `num_days` and `seed` are used.
        cat: ShopCatalog. The catalog whose leaves and brands the tastes point at.

    Example:
        >>> cfg = SyntheticConfig(num_items=500, num_users=50)
        >>> users = ShopUsers(cfg, ShopCatalog(cfg))
        >>> users.taste.shape
        (50, 4)
    """

    MAX_TASTES = 4

    def __init__(self, cfg: SyntheticConfig, cat: ShopCatalog) -> None:
        rng = np.random.default_rng([cfg.seed, 2])
        u = cfg.num_users
        self.n = u
        n_leaves = len(cat.leaves)
        self.gender = rng.integers(0, 2, u)
        self.colour = rng.integers(0, len(ATTRS_BY_NAME["colour"].values), u)
        self.shoe = np.clip(np.round(rng.normal(3.0, 1.5, u)), 0, 6).astype(np.int64)
        self.cloth = np.clip(np.round(rng.normal(1.6, 1.0, u)), 0, 4).astype(np.int64)
        self.beta = rng.lognormal(0.0, 0.5, u)  # price sensitivity

        # tastes: a home department plus a few leaves, mostly inside it
        k = rng.integers(2, self.MAX_TASTES + 1, u)
        home_leaf = np.searchsorted(cat.leaf_traffic_cum, rng.random(u), side="right")
        home_leaf = np.minimum(home_leaf, n_leaves - 1)
        home_top = cat.leaf_top[home_leaf]
        taste = np.full((u, self.MAX_TASTES), -1, dtype=np.int64)
        taste[:, 0] = home_leaf
        active = cat.leaf_count > 0
        for j in range(1, self.MAX_TASTES):
            same_top = rng.random(u) < 0.6
            global_pick = np.minimum(
                np.searchsorted(cat.leaf_traffic_cum, rng.random(u), side="right"), n_leaves - 1
            )
            # a random active leaf of the home department
            lo_leaf = np.array([np.flatnonzero(cat.leaf_top == t)[0] for t in range(len(cat.tops))])
            n_in_top = np.bincount(cat.leaf_top, minlength=len(cat.tops))
            local_pick = lo_leaf[home_top] + (rng.random(u) * n_in_top[home_top]).astype(np.int64)
            local_pick = np.where(active[local_pick], local_pick, global_pick)
            pick = np.where(same_top, local_pick, global_pick)
            taste[:, j] = np.where(j < k, pick, -1)
        w = rng.dirichlet(np.ones(self.MAX_TASTES) * 1.5, u) * (taste >= 0)
        # duplicates of the same leaf merge into one weight
        for j in range(1, self.MAX_TASTES):
            for i in range(j):
                dup = (taste[:, j] == taste[:, i]) & (taste[:, j] >= 0)
                w[dup, i] += w[dup, j]
                w[dup, j] = 0.0
                taste[dup, j] = -1
        self.taste = taste
        self.taste_w = w / w.sum(axis=1, keepdims=True)
        self.taste_cum = np.cumsum(self.taste_w, axis=1)
        # preferred brands: sold in the first two taste leaves
        b0 = cat.leaf_brands[taste[:, 0], rng.integers(0, 3, u)]
        second = np.where(taste[:, 1] >= 0, taste[:, 1], taste[:, 0])
        b1 = cat.leaf_brands[second, rng.integers(0, 3, u)]
        self.pref_brand = np.stack([b0, b1], axis=1)

        # activity: a heavy-tailed number of sessions per user, at least one
        lam = rng.gamma(1.5, max(cfg.sessions_per_user - 1.0, 0.05) / 1.5, u)
        self.n_sessions = 1 + rng.poisson(lam)
        signup_days = rng.random(u) * (cfg.num_days + 400) - 400
        self.signup = cat.window_start + (signup_days * 86400).astype(np.int64)
        self.signup = np.minimum(self.signup, cat.window_end - 86400)
        cw = COUNTRY_WEIGHTS / COUNTRY_WEIGHTS.sum()
        self.country = rng.choice(len(COUNTRIES), size=u, p=cw)
        width = max(6, len(str(u)))
        self.ids = pa.array([f"U{k:0{width}d}" for k in range(u)], type=pa.string())
