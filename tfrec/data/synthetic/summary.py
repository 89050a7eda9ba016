"""Headline figures of a generated synthetic shop (rows, CTR by position, funnel)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tfrec.data.synthetic.catalog import LATE_ITEM_DAYS, WINDOW_END
from tfrec.data.synthetic.sessions import EVENT_CODES


def summarize_shop(paths: dict[str, Path], max_position: int = 5) -> dict:
    """Headline figures of a generated shop: rows, CTR by position, funnel, search share.

    Args:
        paths: dict[str, Path]. Table -> file, as `generate_shop` returns them.
        max_position: int. CTR is reported for positions 1..max_position. Defaults to 5.

    Returns:
        {"rows", "events_by_type", "ctr", "ctr_by_position", "search_session_share",
        "distinct_queries", "late_items"}.

    Example:
        >>> summarize_shop(generate_shop(cfg, "/tmp/shop"))["ctr_by_position"][1]
    """
    frames = {name: _read(p) for name, p in paths.items()}
    ev = frames["events"]
    imp = ev[ev["event"] == "impression"]
    clk = ev[ev["event"] == "click"]
    counts = ev["event"].value_counts()
    imp_pos = imp["position"].value_counts()
    clk_pos = clk["position"].value_counts()
    sessions = ev.drop_duplicates("session_id")
    search_sessions = ev[ev["query"].notna()]["session_id"].nunique()
    items = frames["items"]
    created = pd.to_datetime(items["created_at"])
    late_cut = pd.Timestamp(str(WINDOW_END)) - pd.Timedelta(days=LATE_ITEM_DAYS)
    return {
        "rows": {name: len(df) for name, df in frames.items()},
        "events_by_type": {e: int(counts.get(e, 0)) for e in EVENT_CODES},
        "ctr": round(float(counts.get("click", 0) / max(counts.get("impression", 1), 1)), 4),
        "ctr_by_position": {
            p: round(float(clk_pos.get(p, 0) / max(imp_pos.get(p, 1), 1)), 4)
            for p in range(1, max_position + 1)
        },
        "search_session_share": round(search_sessions / max(len(sessions), 1), 3),
        "distinct_queries": int(ev["query"].nunique()),
        "late_items": int((created >= late_cut).sum()),
    }


def _read(path: Path) -> pd.DataFrame:
    suffix = Path(path).suffix
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    raise ValueError(f"{path}: unknown table format {suffix!r} (expected .parquet, .csv, .jsonl)")
