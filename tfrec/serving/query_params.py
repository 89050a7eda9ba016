"""The query parameters of the product endpoints: which each endpoint accepts (`PARAMS`) and
their parsing, each bad value a `ServingError` (400) that names it and what it got.

Example:
    >>> param_int({"k": "5"}, "k", 10, 1, 100)
    5
"""

from __future__ import annotations

import math

from tfrec.serving.errors import ServingError
from tfrec.shop.similar import DIMENSIONS

MAX_LIST = 100  # the most ids / queries one list parameter may hold
MAX_TEXT = 500  # the longest query, user id or item id accepted

PARAMS = {
    "recommend": {
        "user_id",
        "session_items",
        "session_queries",
        "k",
        "explain",
        "mmr_lambda",
        "category",
        "ranker",
    },
    "search": {"q", "user_id", "session_items", "k", "explain", "mmr_lambda", "category"}
    | {"retriever", "ranker"},
    "similar": {"item_id", "weights", "k", "category"},
    "complementary": {"item_id", "cart", "k", "category"},
    "bundle": {"items", "size"},
}


def param_text(qs: dict, name: str, default: str = "") -> str:
    value = qs.get(name, default)
    if len(value) > MAX_TEXT:
        raise ServingError(f"{name} is longer than {MAX_TEXT} characters ({len(value)})")
    return value.strip()


def param_list(qs: dict, name: str) -> list[str]:
    values = [v.strip() for v in qs.get(name, "").split(",") if v.strip()]
    if len(values) > MAX_LIST:
        raise ServingError(f"{name} holds {len(values)} values; the limit is {MAX_LIST}")
    long = [v for v in values if len(v) > MAX_TEXT]
    if long:
        raise ServingError(f"{name} holds a value longer than {MAX_TEXT} characters")
    return values


def param_int(qs: dict, name: str, default: int, low: int, high: int) -> int:
    raw = qs.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ServingError(
            f"{name} must be an integer between {low} and {high}; got {name}={raw!r}"
        ) from None
    if not low <= value <= high:
        raise ServingError(f"{name} must be between {low} and {high}; got {name}={value}")
    return value


def param_unit(qs: dict, name: str, default: float) -> float:
    raw = qs.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise ServingError(f"{name} must be a number in [0, 1]; got {name}={raw!r}")
    return value


def param_bool(qs: dict, name: str) -> bool:
    raw = qs.get(name, "false").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("", "0", "false", "no", "off"):
        return False
    raise ServingError(f"{name} must be true or false; got {name}={qs[name]!r}")


def parse_weights(raw: str, defaults: dict[str, float]) -> dict[str, float]:
    """`semantic:1,behavioural:0.5` (or `=`) over the defaults; a clear error names the bad
    entry."""
    weights = {d: float(defaults.get(d, 0.0)) for d in DIMENSIONS}
    for entry in [e.strip() for e in raw.split(",") if e.strip()]:
        sep = ":" if ":" in entry else "="
        name, _, value = entry.partition(sep)
        name = name.strip()
        if name not in DIMENSIONS:
            raise ServingError(
                f"weights: {entry!r} names no similarity dimension; use "
                f"{', '.join(DIMENSIONS)} as name:weight; got weights={raw!r}"
            )
        try:
            w = float(value)
        except ValueError:
            w = math.nan
        if not (w >= 0 and math.isfinite(w)):
            raise ServingError(
                f"weights: {entry!r} needs a number >= 0 after the name; got weights={raw!r}"
            )
        weights[name] = w
    if sum(weights.values()) <= 0:
        raise ServingError(f"weights: at least one weight must be > 0; got weights={raw!r}")
    return weights
