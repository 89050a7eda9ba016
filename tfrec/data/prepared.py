"""The prepared data of a run, rebuilt from its clean tables (fast and deterministic)."""

from __future__ import annotations

import pandas as pd

from tfrec.config import Config
from tfrec.core.rundir import RunDir
from tfrec.data.datasets import PreparedData, prepare_data


def load_prepared(cfg: Config, run: RunDir) -> PreparedData:
    """`prepare_data` over the run's `data/clean` items and events.

    Args:
        cfg: the run's config (`data.split`, `retrieval.price_buckets`, `data.item_features`).
        run: the run directory the data stage wrote.

    Example:
        >>> data = load_prepared(cfg, RunDir(cfg.run_path))  # doctest: +SKIP
    """
    items_path = run.clean_table("items")
    if not items_path.exists():
        raise FileNotFoundError(
            f"{items_path} does not exist: run the data stage first (`tfrec run CONFIG --stages data`)"
        )
    items = pd.read_parquet(items_path)
    events = pd.read_parquet(run.clean_table("events"))
    return prepare_data(
        items, events, cfg.data.split, cfg.retrieval.price_buckets, cfg.data.item_features
    )


def read_clean_table(run: RunDir, name: str, columns: list[str] | None = None) -> pd.DataFrame | None:
    """One clean contract table of the run (None when the run has none of it)."""
    path = run.clean_table(name)
    if not path.exists():
        return None
    return pd.read_parquet(path, columns=columns)
