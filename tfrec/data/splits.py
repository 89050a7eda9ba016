"""Leak-free splits: day-aligned time cutoffs, and users or queries held out of training."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from tfrec.config import SplitConfig

SPLITS = ("train", "val", "test")


def _stable_fraction(values: pd.Series, salt: str) -> np.ndarray:
    """A deterministic number in [0, 1) per value (the same on every machine and run)."""
    out = np.empty(len(values), dtype=np.float64)
    for i, v in enumerate(values.astype(str)):
        h = hashlib.blake2b(f"{salt}:{v}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(h, "big") / 2**64
    return out


def time_cutoffs(timestamps: pd.Series, split: SplitConfig) -> dict[str, pd.Timestamp]:
    """Day-aligned cutoffs: the last `test_days` days are test, the `val_days` before are val.

    Args:
        timestamps: pd.Series. The event times.
        split: SplitConfig. `val_days` and `test_days`.

    Returns:
        {"val_start", "test_start", "end"} (end = midnight after the last event).

    Example:
        >>> cut = time_cutoffs(events["timestamp"], SplitConfig(val_days=7, test_days=7))
    """
    if timestamps.empty:
        raise ValueError("no events: cannot split an empty event log by time")
    end = timestamps.max().normalize() + pd.Timedelta(days=1)
    test_start = end - pd.Timedelta(days=split.test_days)
    val_start = test_start - pd.Timedelta(days=split.val_days)
    if val_start <= timestamps.min():
        days = (end - timestamps.min().normalize()).days
        raise ValueError(
            f"the event log spans {days} days, too few for val_days={split.val_days} and "
            f"test_days={split.test_days} plus a training period"
        )
    return {"val_start": val_start, "test_start": test_start, "end": end}


def assign_splits(events: pd.DataFrame, split: SplitConfig) -> tuple[pd.Series, dict]:
    """The split of every event: `train`, `val`, `test`, or `excluded` (held out from training
    but outside the evaluated period, e.g. a held-out user's early events, which are still used
    as that user's history features).

    Args:
        events: pd.DataFrame. `timestamp`, and `user_id` or `query` for user or query splits.
        split: SplitConfig. `by` (time, user or query), `holdout_fraction` and the periods.

    Returns:
        (the split of each event, indexed like `events`; the cutoffs of `time_cutoffs`).

    Example:
        >>> labels, cutoffs = assign_splits(events, SplitConfig(by="user", holdout_fraction=0.2))
    """
    cut = time_cutoffs(events["timestamp"], split)
    ts = events["timestamp"]
    by_time = np.where(
        ts < cut["val_start"], "train", np.where(ts < cut["test_start"], "val", "test")
    )
    if split.by == "time":
        return pd.Series(by_time, index=events.index), cut
    key = events["user_id"] if split.by == "user" else events["query"].fillna("")
    held = pd.Series(_stable_fraction(key, split.by) < split.holdout_fraction, index=events.index)
    if split.by == "query":
        held &= events["query"].fillna("").str.len() > 0
    # held-out users / queries: evaluated in the val and test periods, never trained on;
    # the rest: trained on before val_start only, so the time cut holds as well.
    out = np.where(held, np.where(by_time == "train", "excluded", by_time), by_time)
    out = np.where(~held & (by_time != "train"), "excluded", out)
    return pd.Series(out, index=events.index), cut
