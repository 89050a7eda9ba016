"""Tests for tfrec/data/synthetic/writer.py: the contract, determinism, chunks, formats."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfrec.config import SyntheticConfig
from tfrec.data.schema import CATEGORY_SEPARATOR, EVENTS, ITEMS, JUDGMENTS, USERS
from tfrec.data.synthetic.taxonomy import TAXONOMY_LEAVES
from tfrec.data.synthetic.writer import generate_shop


def test_files_and_columns_follow_the_contract(
    shop_paths: dict[str, Path], small: SyntheticConfig, tables
) -> None:
    paths = shop_paths
    assert set(paths) == {"items", "events", "judgments", "users"}
    assert all(p.name == f"{name}.parquet" and p.exists() for name, p in paths.items())
    frames = tables(paths)
    assert list(frames["items"].columns) == ITEMS.names
    assert list(frames["events"].columns) == EVENTS.names
    assert list(frames["judgments"].columns) == JUDGMENTS.names
    assert frames["users"].columns[0] == USERS.names[0]
    items, ev, users = frames["items"], frames["events"], frames["users"]
    assert len(items) == 1000 and items["item_id"].is_unique
    assert len(users) == 300 and users["user_id"].is_unique
    assert (items["title"].str.len() > 10).all()
    assert (items["price"] > 0).all()
    assert pd.api.types.is_datetime64_ns_dtype(ev["timestamp"])
    assert pd.api.types.is_datetime64_ns_dtype(items["created_at"])
    assert set(ev["event"]) == {"impression", "click", "add_to_cart", "purchase"}
    assert set(ev["item_id"]) <= set(items["item_id"])
    assert set(ev["user_id"]) <= set(users["user_id"])
    assert ev["position"].between(1, small.impressions_per_page).all()
    assert ev["session_id"].notna().all()
    purchases = ev[ev["event"] == "purchase"]
    assert (purchases["quantity"] >= 1).all()
    assert ev.loc[ev["event"] != "purchase", "quantity"].isna().all()
    # every category is a three-level path of the taxonomy
    assert set(items["category"]) <= {lf.category for lf in TAXONOMY_LEAVES}
    assert (items["category"].str.count(CATEGORY_SEPARATOR) == 2).all()


def test_same_seed_same_bytes_and_other_seed_other_data(
    tmp_path: Path, small: SyntheticConfig
) -> None:
    cfg = dataclasses.replace(small, num_items=300, num_users=60)
    a = generate_shop(cfg, tmp_path / "a", progress=False)
    b = generate_shop(cfg, tmp_path / "b", progress=False)
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name
    c = generate_shop(dataclasses.replace(cfg, seed=cfg.seed + 1), tmp_path / "c", progress=False)
    assert not pd.read_parquet(a["events"]).equals(pd.read_parquet(c["events"]))
    assert not pd.read_parquet(a["items"]).equals(pd.read_parquet(c["items"]))


def test_chunked_run_gives_the_same_content(tmp_path: Path, small: SyntheticConfig, tables) -> None:
    cfg = dataclasses.replace(small, num_items=400, num_users=120)
    whole = tables(generate_shop(cfg, tmp_path / "whole", progress=False))
    chunked = tables(
        generate_shop(dataclasses.replace(cfg, chunk_rows=1000), tmp_path / "c", progress=False)
    )
    assert len(whole["events"]) > 3 * 1000  # several chunks were written
    for name in whole:
        pd.testing.assert_frame_equal(whole[name], chunked[name], check_dtype=True)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_text_formats_are_written_and_readable(
    tmp_path: Path, fmt: str, small: SyntheticConfig, tables
) -> None:
    cfg = dataclasses.replace(small, num_items=200, num_users=40, format=fmt)
    paths = generate_shop(cfg, tmp_path / fmt, progress=False)
    assert all(p.suffix == f".{fmt}" for p in paths.values())
    frames = tables(paths)
    ref = tables(
        generate_shop(dataclasses.replace(cfg, format="parquet"), tmp_path / "pq", progress=False)
    )
    for name in frames:
        assert list(frames[name].columns) == list(ref[name].columns)
        assert len(frames[name]) == len(ref[name])
    ev, ref_ev = frames["events"], ref["events"]
    raw = pd.read_csv(paths["events"], dtype=str) if fmt == "csv" else None
    if raw is None:
        raw = pd.read_json(paths["events"], lines=True, dtype=str, convert_dates=False)
    assert raw["timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d").all()
    assert (pd.to_datetime(ev["timestamp"]).to_numpy() == ref_ev["timestamp"].to_numpy()).all()
    assert (ev["item_id"].astype(str) == ref_ev["item_id"]).all()
    assert ev["query"].isna().sum() == ref_ev["query"].isna().sum()
    assert np.allclose(frames["items"]["price"], ref["items"]["price"])


def test_bad_format_is_named(tmp_path: Path, small: SyntheticConfig) -> None:
    cfg = dataclasses.replace(small, num_items=100, num_users=20, format="xlsx")
    with pytest.raises(ValueError, match="xlsx"):
        generate_shop(cfg, tmp_path, progress=False)


# sha256 of each table as CSV (pandas `to_csv(index=False)` of the parquet file) for
# SyntheticConfig(num_items=300, num_users=60, seed=3), computed with the generator as it was
# before the real-log options existed: with their defaults the shop must stay the same draws.
GOLDEN_TINY_SHOP = {
    "items": "58ceefe422dc67aeeb13bb7a834e856a7672ee54088010d7b36d3917c6c45b8f",
    "events": "b9eb4b800bed73aed6ec5a39ad4e3c64267023ce0dc4b6b61c92288849f13a89",
    "judgments": "1cd03943d75be7b1d1c061bf8751f59a80ee6b99173c20305d33cec3fc5b4849",
    "users": "5bee7b67baeb863c6a85ee3a52e9191ed21451030ae2d0e81b1141843df9f6a8",
}


def _tiny_default_checksums(tmp_path: Path, **options) -> dict[str, str]:
    import hashlib

    cfg = SyntheticConfig(num_items=300, num_users=60, seed=3, **options)
    paths = generate_shop(cfg, tmp_path, progress=False)
    return {
        name: hashlib.sha256(pd.read_parquet(p).to_csv(index=False).encode()).hexdigest()
        for name, p in paths.items()
    }


def test_default_shop_is_unchanged_by_the_real_log_options(tmp_path: Path) -> None:
    assert _tiny_default_checksums(tmp_path / "a") == GOLDEN_TINY_SHOP
    explicit = {
        "query_vocab_mismatch": 0.0,
        "popularity_exponent": 0.9,
        "sessions": True,
        "impressions": True,
    }
    assert _tiny_default_checksums(tmp_path / "b", **explicit) == GOLDEN_TINY_SHOP
    assert _tiny_default_checksums(tmp_path / "c", query_vocab_mismatch=0.5) != GOLDEN_TINY_SHOP


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_sessions_off_writes_no_session_ids_and_the_same_events(
    tmp_path: Path, small: SyntheticConfig, tables, fmt: str
) -> None:
    cfg = dataclasses.replace(small, num_items=300, num_users=60, format=fmt)
    on = tables(generate_shop(cfg, tmp_path / "on", progress=False))["events"]
    off_paths = generate_shop(
        dataclasses.replace(cfg, sessions=False), tmp_path / "off", progress=False
    )
    off = tables(off_paths)["events"]
    assert "session_id" not in off.columns
    assert list(off.columns) == [c for c in EVENTS.names if c != "session_id"]
    pd.testing.assert_frame_equal(off, on.drop(columns="session_id"))


def test_sessions_off_falls_back_to_user_and_day_in_prepared_data(
    tmp_path: Path, small: SyntheticConfig
) -> None:
    from tfrec.data.prepared import session_ids

    cfg = dataclasses.replace(small, num_items=300, num_users=60, sessions=False)
    ev = pd.read_parquet(generate_shop(cfg, tmp_path, progress=False)["events"])
    ids, real = session_ids(ev)
    assert not real.any()
    assert ids.str.contains(":").all()


def test_impressions_off_keeps_only_interactions_without_positions(
    tmp_path: Path, small: SyntheticConfig
) -> None:
    cfg = dataclasses.replace(small, num_items=300, num_users=60)
    on = pd.read_parquet(generate_shop(cfg, tmp_path / "on", progress=False)["events"])
    off = pd.read_parquet(
        generate_shop(
            dataclasses.replace(cfg, impressions=False), tmp_path / "off", progress=False
        )["events"]
    )
    assert set(off["event"]) == {"click", "add_to_cart", "purchase"}
    assert off["position"].isna().all()
    interactions = on[on["event"] != "impression"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        off.drop(columns="position"), interactions.drop(columns="position")
    )
