"""The item side of the prepared data: vocabularies, the catalog arrays, the item text.

`build_catalog` turns the clean items table into arrays aligned with the item `Vocabulary`
(row 0 = the padding item): the text the item tower reads, category indices per level, brand,
price bucket, launch date and the config-declared extra features.

Example:

```python
from tfrec.data.catalog import build_catalog

catalog, item_vocab = build_catalog(items, price_buckets=10)
catalog.texts[item_vocab.lookup(["P000001"])[0]]
```
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tfrec.data.schema import CATEGORY_SEPARATOR

PAD = 0  # index 0 of every vocabulary: padding / unknown
CATEGORY_LEVELS = 3


class Vocabulary:
    """Maps string ids to dense indices; index 0 is reserved for padding and unknown ids.

    Args:
        values: the ids, in the order their indices are given (repeats and missing values are
            skipped).

    Example:
        >>> v = Vocabulary(["P1", "P2", "P1"])
        >>> v.lookup(["P2", "nope"]).tolist(), len(v)
        ([2, 0], 3)
    """

    def __init__(self, values: list[str] | np.ndarray | pd.Series):
        unique = pd.unique(pd.Series(values, dtype="object").dropna().astype(str))
        self.values: list[str] = ["[UNK]", *unique]
        self._index = {v: i for i, v in enumerate(self.values)}

    def __len__(self) -> int:
        return len(self.values)

    def lookup(self, ids) -> np.ndarray:
        index = self._index
        return np.fromiter((index.get(str(v), PAD) for v in ids), dtype=np.int64, count=len(ids))

    def __contains__(self, value: str) -> bool:
        return value in self._index


@dataclass
class Catalog:
    """The item side as arrays aligned with the item vocabulary (row 0 is the padding item).

    Built by `build_catalog`; the fields are documented where they are declared.

    Example:
        >>> catalog, vocab = build_catalog(items)
        >>> catalog.titles[vocab.lookup(["P1"])[0]]
    """

    item_ids: list[str]
    texts: list[str]  # title + description, what the text tower reads
    titles: list[str]
    category_idx: np.ndarray  # [N, 3] one vocabulary per level, 0 = unknown
    brand_idx: np.ndarray  # [N]
    price_bucket: np.ndarray  # [N]
    created_at: np.ndarray  # datetime64[ns], NaT when unknown
    category_vocabs: list[Vocabulary]
    brand_vocab: Vocabulary
    price_boundaries: np.ndarray
    categories: list[str] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)
    prices: np.ndarray | None = None
    # config-declared extra features: categorical -> [N, C] indices (one vocabulary per column),
    # numeric -> [N, M] standardised values (missing = 0, the mean); text is appended to `texts`
    extra_categorical: np.ndarray | None = None
    extra_categorical_vocabs: list[Vocabulary] = field(default_factory=list)
    extra_numeric: np.ndarray | None = None
    extra_feature_names: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.item_ids)


def split_category(path: str) -> list[str]:
    """The keys of a category path's first `CATEGORY_LEVELS` levels, each its full prefix.

    Args:
        path: str. A category path such as ``"Men > Shoes > Running"``.

    Example:
        >>> split_category("Men > Shoes > Running")
        ['Men', 'Men > Shoes', 'Men > Shoes > Running']
    """
    parts = [p.strip() for p in str(path).split(CATEGORY_SEPARATOR.strip()) if p.strip()]
    # each level is keyed by its full prefix so "Men > Shoes" and "Women > Shoes" differ
    return [
        CATEGORY_SEPARATOR.join(parts[: i + 1]) for i in range(min(len(parts), CATEGORY_LEVELS))
    ]


def _present(value) -> bool:
    return (
        value is not None
        and not (isinstance(value, float) and np.isnan(value))
        and str(value).strip() != ""
    )


def item_text(title: str, description: str | None, extras: dict[str, str] | None = None) -> str:
    """The text the item tower reads: title, then the description when there is one, then
    config-declared text features as `name: value`.

    Args:
        title: str. The item's title.
        description: str | None. Its description; missing or blank is left out.
        extras: dict[str, str] | None. Declared text features, name -> value.

    Example:
        >>> item_text("Mug", "A big mug", {"colour": "red"})
        'Mug. A big mug. colour: red'
    """
    parts = [str(title).strip()]
    if _present(description):
        parts.append(str(description).strip())
    for name, value in (extras or {}).items():
        if _present(value):
            parts.append(f"{name}: {str(value).strip()}")
    return ". ".join(parts)


def _extra_features(items: pd.DataFrame, item_features: dict[str, str]) -> dict:
    """Declared extra item columns, encoded for the item tower."""
    missing = [c for c in item_features if c not in items]
    if missing:
        raise ValueError(
            f"data.item_features declares {missing} but the items table has no such column "
            f"(columns: {', '.join(items.columns)})"
        )
    cat_cols = [c for c, k in item_features.items() if k == "categorical"]
    num_cols = [c for c, k in item_features.items() if k == "numeric"]
    text_cols = [c for c, k in item_features.items() if k == "text"]
    n = len(items) + 1
    out: dict = {"names": {"categorical": cat_cols, "numeric": num_cols, "text": text_cols}}
    vocabs, cat = [], np.zeros((n, len(cat_cols)), dtype=np.int64)
    for j, col in enumerate(cat_cols):
        values = items[col].where(items[col].notna(), None)
        v = Vocabulary(values.dropna().astype(str))
        vocabs.append(v)
        cat[1:, j] = [v.lookup([x])[0] if x is not None else PAD for x in values]
    num = np.zeros((n, len(num_cols)), dtype=np.float32)
    for j, col in enumerate(num_cols):
        values = pd.to_numeric(items[col], errors="coerce")
        bad = values.isna() & items[col].notna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"numeric item feature {col!r} has non-numeric values, e.g. "
                f"{items[col].iloc[row]!r} for item {items['item_id'].iloc[row]!r}"
            )
        x = values.to_numpy(dtype=np.float64)
        mean, std = (
            np.nanmean(x) if (~np.isnan(x)).any() else 0.0,
            np.nanstd(x) if (~np.isnan(x)).any() else 1.0,
        )
        num[1:, j] = np.nan_to_num((x - mean) / (std or 1.0))
    out.update(categorical=cat, vocabs=vocabs, numeric=num)
    out["text"] = [{c: items[c].iloc[i] for c in text_cols} for i in range(len(items))]
    return out


def build_catalog(
    items: pd.DataFrame, price_buckets: int = 10, item_features: dict[str, str] | None = None
) -> tuple[Catalog, Vocabulary]:
    """Arrays for the item tower, aligned with the item vocabulary (row 0 = padding).

    Args:
        items: pd.DataFrame. Clean items (`item_id`, `title`; optional `description`,
            `category`, `brand`, `price`, `created_at` and the declared features).
        price_buckets: int. Quantile buckets of log price (bucket 0 = unknown). Defaults to 10.
        item_features: dict[str, str] | None. Declared extra columns, name -> categorical,
            numeric or text.

    Returns:
        (the Catalog, the item Vocabulary).

    Example:
        >>> catalog, item_vocab = build_catalog(items, price_buckets=10)
    """
    if items.empty:
        raise ValueError("the catalog is empty: items has no rows")
    items = items.reset_index(drop=True)
    vocab = Vocabulary(items["item_id"])
    n = len(vocab)
    extras = _extra_features(items, item_features or {})
    descriptions = items["description"] if "description" in items else [None] * len(items)
    texts = [""] + [
        item_text(t, d, x) for t, d, x in zip(items["title"], descriptions, extras["text"])
    ]
    titles = [""] + items["title"].astype(str).tolist()

    cats = (
        items["category"].fillna("").astype(str)
        if "category" in items
        else pd.Series([""] * len(items))
    )
    levels = [split_category(c) for c in cats]
    cat_vocabs = []
    cat_idx = np.zeros((n, CATEGORY_LEVELS), dtype=np.int64)
    for lvl in range(CATEGORY_LEVELS):
        col = [lv[lvl] if len(lv) > lvl else None for lv in levels]
        v = Vocabulary(pd.Series(col, dtype="object").dropna())
        cat_vocabs.append(v)
        cat_idx[1:, lvl] = [v.lookup([c])[0] if c is not None else PAD for c in col]

    brands = (
        items["brand"].fillna("").astype(str) if "brand" in items else pd.Series([""] * len(items))
    )
    brand_vocab = Vocabulary(brands[brands != ""])
    brand_idx = np.zeros(n, dtype=np.int64)
    brand_idx[1:] = brand_vocab.lookup(brands.tolist())

    price = (
        pd.to_numeric(items["price"], errors="coerce").to_numpy(dtype=np.float64)
        if "price" in items
        else np.full(len(items), np.nan)
    )
    known = price[~np.isnan(price)]
    if len(known):
        qs = np.quantile(np.log1p(known), np.linspace(0, 1, price_buckets + 1)[1:-1])
        boundaries = np.unique(qs)
    else:
        boundaries = np.array([], dtype=np.float64)
    bucket = np.zeros(n, dtype=np.int64)
    # bucket 0 = unknown price, 1..B = quantile buckets
    bucket[1:] = np.where(
        np.isnan(price), 0, np.searchsorted(boundaries, np.log1p(np.nan_to_num(price))) + 1
    )

    created = (
        pd.to_datetime(items["created_at"], errors="coerce").to_numpy(dtype="datetime64[ns]")
        if "created_at" in items
        else np.full(len(items), np.datetime64("NaT"), dtype="datetime64[ns]")
    )
    created = np.concatenate([[np.datetime64("NaT")], created]).astype("datetime64[ns]")
    catalog = Catalog(
        item_ids=vocab.values,
        texts=texts,
        titles=titles,
        category_idx=cat_idx,
        brand_idx=brand_idx,
        price_bucket=bucket,
        created_at=created,
        category_vocabs=cat_vocabs,
        brand_vocab=brand_vocab,
        price_boundaries=boundaries,
        categories=[""] + cats.tolist(),
        brands=[""] + brands.tolist(),
        prices=np.concatenate([[np.nan], price]),
        extra_categorical=extras["categorical"],
        extra_categorical_vocabs=extras["vocabs"],
        extra_numeric=extras["numeric"],
        extra_feature_names=extras["names"],
    )
    return catalog, vocab
