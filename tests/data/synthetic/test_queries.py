"""Tests for tfrec/data/synthetic/queries.py: synonyms, typos, head and tail queries."""

from __future__ import annotations

import pandas as pd

from tfrec.data.synthetic.taxonomy import TAXONOMY_LEAVES


def test_queries_use_synonyms_and_typos_with_judged_relevant_items(
    shop: dict[str, pd.DataFrame],
) -> None:
    items, ev, j = shop["items"], shop["events"], shop["judgments"]
    queries = ev["query"].dropna().unique()
    leaf_of = items.set_index("item_id")["category"].str.split(" > ").str[-1]
    rel = j[j["relevance"] >= 2].assign(leaf=lambda d: d["item_id"].map(leaf_of))
    # a query is "non-lexical" when no word of its relevant items' leaf name appears in it
    lexical_miss = 0
    for q, leaf in rel.drop_duplicates("query")[["query", "leaf"]].itertuples(index=False):
        words = {w.lower().rstrip("s") for w in leaf.split()}
        if not any(w.rstrip("s") in words for w in q.split()):
            lexical_miss += 1
    assert lexical_miss > 0.15 * len(queries)
    assert any(q in ("sneakers", "trainers", "earbuds", "earphones", "skillet") for q in queries)
    # typos: queries with a word that appears in no title, no synonym and no attribute value
    vocab = set(" ".join(items["title"]).lower().replace(",", " ").split())
    for lf in TAXONOMY_LEAVES:
        vocab |= {w for s in lf.synonyms for w in s.split()} | set(lf.name.lower().split())
    odd = [q for q in queries if any(w.isalpha() and w not in vocab for w in q.split())]
    assert len(odd) > 0.03 * len(queries)
    # head queries repeat, tail queries are long
    counts = ev.drop_duplicates(["session_id", "query"])["query"].value_counts()
    assert counts.iloc[0] >= 5
    assert counts.index.str.split().str.len().max() >= 4
