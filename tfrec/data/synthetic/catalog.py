"""The synthetic catalog as arrays: leaves, brands, items, prices, launch dates, titles."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from tfrec.config import SyntheticConfig
from tfrec.data.synthetic.taxonomy import (
    ATTR_INDEX,
    ATTRIBUTES,
    ATTRS_BY_NAME,
    BRANDS,
    BRANDS_PER_LEAF,
    CLOSINGS,
    TAXONOMY_LEAVES,
)

# The log window ends here (fixed, so that the same seed gives the same bytes).
WINDOW_END = np.datetime64("2024-07-01T00:00:00", "s")
LATE_ITEM_DAYS = 10


class ShopCatalog:
    """Leaves, brands and items as numpy arrays; items are stored grouped by leaf.

    Draws from its own random stream (`[cfg.seed, 1]`), so the catalog does not depend on the
    users or the sessions.

    Args:
        cfg: SyntheticConfig. `num_items`, `num_days`, `late_item_share`,
            `popularity_exponent` and `seed` are used.

    Example:
        >>> cat = ShopCatalog(SyntheticConfig(num_items=500, num_users=50))
        >>> title, description = cat.item_text(0)
    """

    def __init__(self, cfg: SyntheticConfig) -> None:
        rng = np.random.default_rng([cfg.seed, 1])
        leaves = TAXONOMY_LEAVES
        self.leaves = leaves
        n_leaves = len(leaves)
        self.tops = sorted({lf.path[0] for lf in leaves}, key=[lf.path[0] for lf in leaves].index)
        self.mids = sorted({lf.path[:2] for lf in leaves}, key=[lf.path[:2] for lf in leaves].index)
        self.leaf_top = np.array([self.tops.index(lf.path[0]) for lf in leaves])
        self.leaf_mid = np.array([self.mids.index(lf.path[:2]) for lf in leaves])
        self.mid_top = np.array([self.tops.index(m[0]) for m in self.mids])
        self.leaf_median = np.array([lf.median_price for lf in leaves], dtype=float)
        self.leaf_slot_type = np.full((n_leaves, 3), -1, dtype=np.int64)
        for i, lf in enumerate(leaves):
            for s, a in enumerate(lf.attrs):
                self.leaf_slot_type[i, s] = ATTR_INDEX[a]
        self.leaf_nslots = (self.leaf_slot_type >= 0).sum(axis=1)
        self.type_nvals = np.array([len(a.values) for a in ATTRIBUTES])

        # brands: a global list; each leaf sells 6 of its department's 8, Zipf-popular
        self.brands: list[str] = []
        top_brand_ids = {}
        for top in self.tops:
            names = BRANDS[top].split("|")
            top_brand_ids[top] = np.arange(len(self.brands), len(self.brands) + len(names))
            self.brands.extend(names)
        brand_premium = np.exp(rng.normal(0.0, 0.25, len(self.brands)))
        self.leaf_brands = np.zeros((n_leaves, BRANDS_PER_LEAF), dtype=np.int64)
        for i, lf in enumerate(leaves):
            ids = top_brand_ids[lf.path[0]]
            self.leaf_brands[i] = rng.permutation(ids)[:BRANDS_PER_LEAF]
        brand_w = 1.0 / np.arange(1, BRANDS_PER_LEAF + 1) ** 0.8
        self.leaf_brand_cum = np.cumsum(brand_w / brand_w.sum())

        # leaf sizes and demand: some categories are bigger and busier than others
        n = cfg.num_items
        leaf_share = rng.lognormal(0.0, 0.5, n_leaves)
        leaf_share /= leaf_share.sum()
        if n >= 2 * n_leaves:
            counts = 1 + rng.multinomial(n - n_leaves, leaf_share)
        else:
            counts = rng.multinomial(n, leaf_share)
        self.leaf_count = counts
        self.leaf_lo = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.leaf_hi = np.cumsum(counts)
        self.mid_lo = np.array(
            [self.leaf_lo[self.leaf_mid == m].min() for m in range(len(self.mids))]
        )
        self.mid_hi = np.array(
            [self.leaf_hi[self.leaf_mid == m].max() for m in range(len(self.mids))]
        )
        self.top_lo = np.array(
            [self.leaf_lo[self.leaf_top == t].min() for t in range(len(self.tops))]
        )
        self.top_hi = np.array(
            [self.leaf_hi[self.leaf_top == t].max() for t in range(len(self.tops))]
        )
        demand = leaf_share * rng.lognormal(0.0, 0.4, n_leaves) * (counts > 0)
        self.leaf_traffic_cum = np.cumsum(demand / demand.sum())

        # items, grouped by leaf (the row order of the items file is shuffled by id)
        self.n = n
        leaf = np.repeat(np.arange(n_leaves), counts)
        self.item_leaf = leaf
        brand_slot = np.searchsorted(self.leaf_brand_cum, rng.random(n), side="right")
        brand_slot = np.minimum(brand_slot, BRANDS_PER_LEAF - 1)
        self.item_brand = self.leaf_brands[leaf, brand_slot]
        slot_type = self.leaf_slot_type[leaf]
        nvals = np.where(slot_type >= 0, self.type_nvals[np.maximum(slot_type, 0)], 1)
        self.item_attr = np.where(
            slot_type >= 0, (rng.random((n, 3)) * nvals).astype(np.int64), -1
        ).astype(np.int16)
        self.item_gender = self._attr_of("gender")
        self.item_colour = self._attr_of("colour")
        shoe, cloth = self._attr_of("shoe_size"), self._attr_of("clothing_size")
        self.item_size_kind = np.where(shoe >= 0, 0, np.where(cloth >= 0, 1, -1))
        self.item_size = np.where(shoe >= 0, shoe, cloth)

        log_price = np.log(self.leaf_median[leaf] * brand_premium[self.item_brand])
        price = np.exp(rng.normal(log_price, 0.35))
        self.item_price = np.where(
            price >= 5, np.floor(price) + 0.99, np.round(np.maximum(price, 0.5), 2)
        )
        self.item_log_price_ratio = np.log(self.item_price / self.leaf_median[leaf])
        # Zipf-like popularity over the whole catalog; appeal partly follows popularity (the
        # appeal is standardised, so the exponent only changes the engines' exposure)
        rank = rng.permutation(n) + 1
        zipf = rank.astype(float) ** -float(cfg.popularity_exponent)
        self.item_appeal = 0.5 * (np.log(zipf) - np.log(zipf).mean()) / max(
            np.log(zipf).std(), 1e-9
        ) + rng.normal(0.0, 0.8, n)

        # launch dates: most items before the window; a share launches in its last 10 days
        window_s = int(cfg.num_days) * 86400
        end = int(WINDOW_END.astype(np.int64))
        self.window_start = end - window_s
        self.window_end = end
        late = rng.random(n) < cfg.late_item_share
        created = np.where(
            late,
            end - (rng.random(n) * LATE_ITEM_DAYS * 86400).astype(np.int64) - 3600,
            self.window_start - (rng.random(n) * 730 * 86400).astype(np.int64) - 3600,
        )
        self.item_created = created
        self.item_late = late
        # exposure weight of the engines: popularity, with new arrivals featured
        self.item_weight = zipf * np.where(late, 3.0, 1.0)
        self.cum_weight = np.concatenate([[0.0], np.cumsum(self.item_weight)])

        # ids: shuffled so that an id says nothing about the category
        self.id_perm = rng.permutation(n)
        width = max(6, len(str(n)))
        self.item_ids = pa.array([f"P{k:0{width}d}" for k in self.id_perm], type=pa.string())

        # words for titles and descriptions (drawn now so text is independent of chunking)
        self.text_draws = rng.random((n, 6))

    def _attr_of(self, attr_name: str) -> np.ndarray:
        t = ATTR_INDEX[attr_name]
        slot_type = self.leaf_slot_type[self.item_leaf]
        hit = slot_type == t
        vals = np.where(hit, self.item_attr, -1).max(axis=1)
        return np.where(hit.any(axis=1), vals, -1).astype(np.int64)

    def item_text(self, i: int) -> tuple[str, str]:
        """Title and description of item `i` (internal index)."""
        lf = self.leaves[self.item_leaf[i]]
        r = self.text_draws[i]
        brand = self.brands[self.item_brand[i]]
        noun = lf.nouns[0] if r[0] < 0.75 or len(lf.nouns) == 1 else lf.nouns[1]
        adj = lf.adjectives[int(r[1] * len(lf.adjectives))] if r[2] < 0.8 else ""
        phrase = lf.phrases[int(r[3] * len(lf.phrases))]
        pre, post, specs = [], [], []
        for s, a_name in enumerate(lf.attrs):
            a = ATTRS_BY_NAME[a_name]
            value = a.values[self.item_attr[i, s]]
            (pre if a.title_pos == "pre" else post).append(value)
            specs.append(f"{a.label}: {value}")
        pre_words = {w for v in pre for w in v.split()}
        if pre_words & set(adj.split()) or set(adj.split()) & set(noun.split()):
            adj = ""  # no "Non-Stick Aluminium Non-Stick Saucepan"
        head = " ".join(w for w in [brand, *pre, adj, noun] if w)
        title = ", ".join([head, phrase, *post]) if r[4] < 0.7 else ", ".join([head, *post])
        other = lf.phrases[(int(r[3] * len(lf.phrases)) + 1) % len(lf.phrases)]
        kind = f"{adj.lower()} {noun.lower()}".strip()
        article = "An" if kind[0] in "aeiou" else "A"
        description = (
            f"{article} {kind} from {brand} {lf.use}. "
            f"Features: {phrase}, {other}. "
            f"{'; '.join(specs)}. "
            f"{CLOSINGS[int(r[5] * len(CLOSINGS))]}"
        )
        return title, description
