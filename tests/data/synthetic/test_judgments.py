"""Tests for tfrec/data/synthetic/judgments.py: the graded truth of every issued query."""

from __future__ import annotations

import pandas as pd


def test_judgments_cover_issued_queries(shop: dict[str, pd.DataFrame]) -> None:
    ev, j = shop["events"], shop["judgments"]
    issued = set(ev["query"].dropna())
    assert set(j["query"]) == issued
    assert j["relevance"].isin([1.0, 2.0, 3.0]).all()
    assert j.groupby("query").size().max() <= 100
    assert not j.duplicated(["query", "item_id"]).any()
    assert (j.groupby("query")["relevance"].max() >= 2).mean() > 0.95
