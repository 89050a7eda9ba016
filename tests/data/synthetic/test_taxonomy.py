"""Tests for tfrec/data/synthetic/taxonomy.py: the word lists."""

from __future__ import annotations

from tfrec.data.synthetic.taxonomy import TAXONOMY_LEAVES


def test_taxonomy_is_rich_and_query_words_are_unambiguous() -> None:
    assert len({lf.path[0] for lf in TAXONOMY_LEAVES}) >= 8
    assert len(TAXONOMY_LEAVES) >= 40
    owner: dict[str, str] = {}
    for lf in TAXONOMY_LEAVES:
        words = {lf.name.lower(), *(n.lower() for n in lf.nouns), *lf.synonyms}
        for w in words:
            assert owner.setdefault(w, lf.name) == lf.name, f"{w!r} names {owner[w]} and {lf.name}"
