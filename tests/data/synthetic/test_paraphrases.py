"""Tests for tfrec/data/synthetic/paraphrases.py and the `query_vocab_mismatch` option."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tfrec.config import ConfigError, SyntheticConfig, config_from_dict
from tfrec.data.synthetic.catalog import ShopCatalog
from tfrec.data.synthetic.paraphrases import (
    ATTRIBUTE_PARAPHRASES,
    mismatched_synonyms,
    paraphrase_forms,
    title_word_overlap,
)
from tfrec.data.synthetic.queries import render_query
from tfrec.data.synthetic.taxonomy import ATTRIBUTES, TAXONOMY_LEAVES
from tfrec.data.synthetic.writer import generate_shop


def _alpha_words(text: str) -> set[str]:
    return {w for w in text.lower().replace("-", " ").replace("'", " ").split() if w.isalpha()}


def test_paraphrases_are_attribute_values_typed_with_other_words() -> None:
    values = {v for a in ATTRIBUTES for v in a.values}
    assert set(ATTRIBUTE_PARAPHRASES) <= values
    assert len(ATTRIBUTE_PARAPHRASES) > 0.9 * len(values)
    for value, forms in ATTRIBUTE_PARAPHRASES.items():
        assert forms and all(f == f.lower() for f in forms), value
        for form in forms:  # numbers may stay ("eu 44"), words may not
            assert not _alpha_words(form) & _alpha_words(value), (value, form)
    assert paraphrase_forms("Rattan") == ("wicker",)
    assert paraphrase_forms("not a value") == ()


def test_mismatched_synonyms_avoid_the_title_nouns() -> None:
    for leaf in TAXONOMY_LEAVES:
        syns = mismatched_synonyms(leaf)
        assert set(syns) <= set(leaf.synonyms)
        title = set().union(*(_alpha_words(n) for n in leaf.nouns))
        clean = [s for s in leaf.synonyms if not _alpha_words(s) & title]
        if clean:
            assert all(not _alpha_words(s) & title for s in syns), leaf.name


def test_title_word_overlap_counts_query_words_found_in_titles() -> None:
    titles = ["Nordvik Running Shoes, Navy Blue", "Kettle 1.7 L"]
    assert title_word_overlap(["running shoes", "sneakers"], titles) == pytest.approx(2 / 3)
    assert title_word_overlap([], titles) == 0.0
    assert title_word_overlap(["navy"], []) == 0.0


def test_render_query_ignores_mismatch_draws_at_rate_zero_and_needs_them_above() -> None:
    cat = ShopCatalog(SyntheticConfig(num_items=200, num_users=20))
    r = np.full(10, 0.3)
    cons = np.array([0, 2, 4])  # running shoes: Men's, Navy Blue, Size 10
    plain = render_query(cat, 0, cons, -1, r)
    assert render_query(cat, 0, cons, -1, r, 0.0, np.zeros(8)) == plain
    assert plain[0] == "mens navy running shoes size 10"
    text, kind = render_query(cat, 0, cons, -1, r, 1.0, np.zeros(8))
    # every word group replaced: noun by a synonym, each value by its first paraphrase
    assert text == "male midnight sneakers eu 44"
    assert kind in (1, 2)
    with pytest.raises(ValueError, match="mismatch_draws"):
        render_query(cat, 0, cons, -1, r, 0.5)


def test_mismatch_lowers_the_title_word_overlap_of_queries(tmp_path: Path) -> None:
    base = SyntheticConfig(num_items=400, num_users=150, seed=5)
    frames = {}
    for m in (0.0, 1.0):
        paths = generate_shop(
            dataclasses.replace(base, query_vocab_mismatch=m), tmp_path / str(m), progress=False
        )
        frames[m] = {k: pd.read_parquet(p) for k, p in paths.items()}
    titles = frames[0.0]["items"]["title"].tolist()
    overlap = {
        m: title_word_overlap(f["events"]["query"].dropna().unique().tolist(), titles)
        for m, f in frames.items()
    }
    assert overlap[1.0] < overlap[0.0] - 0.25, overlap
    # only the query words change: the catalog and the users are the same draws
    for table in ("items", "users"):
        pd.testing.assert_frame_equal(frames[0.0][table], frames[1.0][table])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("query_vocab_mismatch", 1.5),
        ("query_vocab_mismatch", -0.1),
        ("popularity_exponent", 0),
        ("popularity_exponent", 5),
    ],
)
def test_out_of_range_options_are_refused(key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"data.synthetic.{key}"):
        config_from_dict({"data": {"synthetic": {key: value}}})
