"""Query texts as people type them (synonyms, attributes, typos) and the registry of queries."""

from __future__ import annotations

import zlib

import numpy as np

from tfrec.data.synthetic.catalog import ShopCatalog
from tfrec.data.synthetic.paraphrases import mismatched_synonyms, paraphrase_forms, pick
from tfrec.data.synthetic.taxonomy import ATTRIBUTES, KEYBOARD_NEIGHBOURS, QUERY_ALIASES

TYPO_RATE = 0.10


def _value_query_forms(value: str) -> tuple[str, ...]:
    if value in QUERY_ALIASES:
        return QUERY_ALIASES[value]
    return (value.lower().replace("'", ""),)


def _engine_knows(synonym: str) -> bool:
    """Whether the simulated search engine's synonym dictionary has this word (fixed, ~half)."""
    return zlib.crc32(synonym.encode("utf-8")) % 2 == 0


def _typo(text: str, r: np.ndarray) -> str:
    """One realistic typo in one word of 4+ letters: swap, drop, double or a neighbour key."""
    words = text.split(" ")
    cand = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not cand:
        return text
    wi = cand[int(r[0] * len(cand))]
    w = words[wi]
    p = 1 + int(r[1] * (len(w) - 2))  # never the first letter
    op = int(r[2] * 4)
    if op == 0:
        w = w[:p] + w[p + 1] + w[p] + w[p + 2 :] if p + 1 < len(w) else w[:p]
    elif op == 1:
        w = w[:p] + w[p + 1 :]
    elif op == 2:
        w = w[:p] + w[p] + w[p:]
    else:
        nb = KEYBOARD_NEIGHBOURS.get(w[p], w[p])
        w = w[:p] + nb[int(r[3] * len(nb))] + w[p + 1 :]
    words[wi] = w
    return " ".join(words)


def render_query(
    cat: ShopCatalog,
    leaf: int,
    cons: np.ndarray,
    brand: int,
    r: np.ndarray,
    mismatch_rate: float = 0.0,
    mismatch_draws: np.ndarray | None = None,
) -> tuple[str, int]:
    """The query text for an intent, and how the engine sees its noun.

    Args:
        cat: ShopCatalog. The catalog (leaves, attribute slots, brands).
        leaf: int. The intended leaf.
        cons: np.ndarray. The asked value of each of the leaf's 3 attribute slots, -1 = none.
        brand: int. The asked brand, -1 = none.
        r: np.ndarray. 10 uniform draws that pick the words and the typo.
        mismatch_rate: float. Probability that a word group (the noun, each attribute value)
            is written with words titles do not use (`tfrec.data.synthetic.paraphrases`).
            Defaults to 0.0: the text depends on `r` alone, as without the option.
        mismatch_draws: np.ndarray | None. 8 more uniform draws (own random stream) for the
            mismatch: [0] noun replaced?, [1] which synonym, [2:5] attribute replaced?, [5:8]
            which paraphrase. Required when `mismatch_rate` > 0.

    Returns (text, kind): kind 0 = a canonical name, 1 = a synonym the engine knows,
    2 = a synonym the engine does not know, 3 = a typo.

    Example:
        >>> text, kind = render_query(cat, 0, np.array([0, 1, -1]), -1, np.random.random(10))
    """
    lf = cat.leaves[leaf]
    m = mismatch_draws if mismatch_rate > 0 else None
    if mismatch_rate > 0 and (m is None or np.shape(m) != (8,)):
        raise ValueError(f"mismatch_rate > 0 needs 8 mismatch_draws, got {np.shape(m)}")
    canonical = [lf.name.lower(), *[n.lower() for n in lf.nouns]]
    if r[0] < 0.6:
        # head forms are skewed to the first spelling, as real query logs are
        noun, kind = canonical[int(r[1] ** 2 * len(canonical))], 0
    else:
        noun = lf.synonyms[int(r[1] ** 2 * len(lf.synonyms))]
        kind = 1 if _engine_knows(noun) else 2
    if m is not None and m[0] < mismatch_rate:
        noun = pick(mismatched_synonyms(lf), m[1])
        kind = 1 if _engine_knows(noun) else 2
    pre, post = [], []
    for s in range(3):
        if cons[s] < 0:
            continue
        a = ATTRIBUTES[cat.leaf_slot_type[leaf, s]]
        forms = _value_query_forms(a.values[cons[s]])
        form = forms[int(r[2 + s] * len(forms))]
        other = paraphrase_forms(a.values[cons[s]])
        if m is not None and other and m[2 + s] < mismatch_rate:
            form = pick(other, m[5 + s])
        (pre if a.query_pos == "pre" else post).append(form)
    words = ([cat.brands[brand].lower()] if brand >= 0 else []) + pre + [noun] + post
    text = " ".join(words)
    if r[5] < TYPO_RATE:
        typo = _typo(text, r[6:10])
        if typo != text:
            return typo, 3
    return text, kind


class QueryRegistry:
    """Distinct query texts in order of first use, each with the intent that first produced it.

    An intent is (leaf, slot 0 value, slot 1 value, slot 2 value, brand), -1 = not asked.

    Example:
        >>> queries = QueryRegistry()
        >>> queries.add("running shoes", (0, -1, -1, -1, -1))
        0
    """

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.texts: list[str] = []
        self.intents: list[tuple[int, int, int, int, int]] = []

    def add(self, text: str, intent: tuple[int, int, int, int, int]) -> int:
        qid = self.ids.get(text)
        if qid is None:
            qid = len(self.texts)
            self.ids[text] = qid
            self.texts.append(text)
            self.intents.append(intent)
        return qid
