"""Shared for the synthetic shop's tests: a small shop generated once per session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tfrec.config import SyntheticConfig
from tfrec.data.synthetic.writer import generate_shop

SMALL = SyntheticConfig(num_items=1000, num_users=300, seed=7)


def read_all(paths: dict[str, Path]) -> dict[str, pd.DataFrame]:
    """The generated tables as frames, whatever their format."""
    out = {}
    for name, p in paths.items():
        if p.suffix == ".parquet":
            out[name] = pd.read_parquet(p)
        elif p.suffix == ".csv":
            out[name] = pd.read_csv(p, dtype={"item_id": str, "user_id": str, "query": str})
        else:
            out[name] = pd.read_json(p, lines=True, dtype={"item_id": str, "user_id": str})
    return out


@pytest.fixture(scope="session")
def small() -> SyntheticConfig:
    """The config of the shared small shop."""
    return SMALL


@pytest.fixture(scope="session")
def shop_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The files of the shared small shop (parquet)."""
    return generate_shop(SMALL, tmp_path_factory.mktemp("shop"), progress=False)


@pytest.fixture(scope="session")
def shop(shop_paths: dict[str, Path]) -> dict[str, pd.DataFrame]:
    """The tables of the shared small shop as frames."""
    return read_all(shop_paths)


@pytest.fixture(scope="session")
def tables():
    """`read_all`: generated files -> frames (csv, jsonl or parquet)."""
    return read_all
