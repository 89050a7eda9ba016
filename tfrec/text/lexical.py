"""Lexical search: Okapi BM25 over item documents, on the `bm25s` library.

The evaluation's `bm25` baseline, its `hybrid` retriever and the server's hybrid `/search` all
read a `LexicalIndex`, so it lives here, in the text layer that every one of them may import.

Why `bm25s` (https://github.com/xhluca/bm25s) rather than the Python loop over postings tfrec
had: it computes the BM25 weight of every (document, term) pair once, at index time, into a
sparse matrix, so scoring a batch of queries is one sparse product here, not a Python loop over
each query term's postings; it needs numpy only (numba is an optional backend, not used: no JIT
compile at start-up; scipy, already in the stack, does the products); and it is maintained and
follows the BM25 variants of Kamphuis et al. (2020), Lucene's among them.

Scoring is Lucene's BM25 (`method="lucene"`, k1 = 1.2, b = 0.75):
`idf(t) * tf / (tf + k1 * (1 - b + b * len(d) / avg_len))` with
`idf(t) = log(1 + (N - df + 0.5) / (df + 0.5))`, summed over the distinct query terms found in
the document. Documents and queries go through the same `tokenize`. Against the loop it
replaces (`tfrec/evaluation/lexical.py`, which multiplied by k1 + 1): the same order, scores
divided by k1 + 1, the padding row no longer counted as a document, and Unicode tokens with
accents stripped where it kept ASCII `[a-z0-9]` only.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence

import bm25s
import numpy as np
import scipy.sparse as sp

from tfrec.core.topk import top_k

# bm25s reports each index build at DEBUG level, which reaches the run's output when another
# library has configured the root logger; its warnings still show
logging.getLogger("bm25s").setLevel(logging.INFO)

PAD = 0  # row 0 of a catalog is the padding item: never indexed, scored 0, never returned
_TOKEN = re.compile(r"[^\W_]+")  # runs of Unicode letters and digits


def tokenize(text: str) -> list[str]:
    """Lower-cased (case-folded) runs of letters and digits, accents removed.

    The same function tokenizes documents and queries, so `Café` in a query matches `cafe` in a
    title; any script is kept (`東京` stays one token), punctuation and `_` split tokens.

    Args:
        text: str (anything else is converted with `str`).

    Returns:
        list of str tokens, in order, repeats kept.

    Example:
        >>> tokenize("Crème Brûlée SET, 2-pack")
        ['creme', 'brulee', 'set', '2', 'pack']
    """
    text = str(text)
    if not text.isascii():  # ASCII has no accents to strip: the common case stays fast
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _TOKEN.findall(text.casefold())


def item_documents(
    texts: Sequence[str], categories: Sequence[str], brands: Sequence[str]
) -> list[str]:
    """One lexical document per catalog row: the item text (title and description), the
    category path and the brand.

    Args:
        texts: [N] item texts (`Catalog.texts`: title + description + declared text features).
        categories: [N] category paths, or an empty sequence when the catalog has none.
        brands: [N] brands, or an empty sequence.

    Returns:
        list of N str.

    Example:
        >>> item_documents(["", "red mug"], ["", "Home > Mugs"], ["", "Acme"])
        ['', 'red mug Home > Mugs Acme']
    """
    n = len(texts)
    categories = list(categories) or [""] * n
    brands = list(brands) or [""] * n
    return [" ".join(str(p) for p in parts if p) for parts in zip(texts, categories, brands)]


class LexicalIndex:
    """BM25 over the documents of a catalog, for whole batches of queries.

    Row 0 is the padding item: it is not indexed (so it does not count in the document
    frequencies or the mean length), its score is always 0 and `top` never returns it.

    Args:
        documents: [N] str, one per catalog row (row 0 = padding; see `item_documents`).
        k1: float. BM25 term-frequency saturation. Defaults to 1.2.
        b: float in [0, 1]. BM25 length normalisation. Defaults to 0.75.

    Example:
        >>> index = LexicalIndex(["", "red running shoes", "blue frying pan", "red pan"])
        >>> index.top(["red shoes"], k=2)[0].tolist()
        [[1, 3]]
        >>> index.scores(["blue"]).shape
        (1, 4)
    """

    def __init__(self, documents: Sequence[str], k1: float = 1.2, b: float = 0.75):
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"BM25 needs k1 >= 0 and b in [0, 1]; got k1={k1}, b={b}")
        self.num_items = len(documents)
        self.k1, self.b = k1, b
        self.vocab: dict[str, int] = {}
        token_ids = [
            [self.vocab.setdefault(t, len(self.vocab)) for t in tokenize(doc)]
            for doc in list(documents)[1:]
        ]
        # [V, N]: the BM25 weight of term v in item n (column 0, the padding, stays empty)
        self.weights = sp.csr_matrix((len(self.vocab), self.num_items), dtype=np.float32)
        if self.vocab:
            engine = bm25s.BM25(k1=k1, b=b, method="lucene")
            engine.index((token_ids, self.vocab), create_empty_token=False, show_progress=False)
            s = engine.scores  # CSC arrays of [documents, V] = CSR arrays of its transpose
            by_term = sp.csr_matrix(
                (s["data"], s["indices"], s["indptr"]), shape=(len(self.vocab), s["num_docs"])
            )
            self.weights = sp.hstack(
                [sp.csr_matrix((len(self.vocab), 1), dtype=np.float32), by_term], format="csr"
            ).astype(np.float32)

    def _query_matrix(self, queries: Sequence[str]) -> sp.csr_matrix:
        """[n, V] 1 where a distinct query term is in the vocabulary."""
        rows, cols = [], []
        for row, query in enumerate(queries):
            terms = {self.vocab[t] for t in tokenize(query) if t in self.vocab}
            rows.extend([row] * len(terms))
            cols.extend(sorted(terms))
        data = np.ones(len(rows), np.float32)
        return sp.csr_matrix((data, (rows, cols)), shape=(len(queries), len(self.vocab)))

    def scores(self, queries: str | Sequence[str]) -> np.ndarray:
        """BM25 score of every catalog row for each query (0 where no query term occurs).

        Args:
            queries: a list of n query strings, or one string.

        Returns:
            `[n, N]` float32 (`[N]` for one string); column 0 (padding) is 0.
        """
        one = isinstance(queries, str)
        batch = [queries] if one else [str(q) for q in queries]
        out = (self._query_matrix(batch) @ self.weights).toarray()
        return out[0] if one else out

    def top(self, queries: str | Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The `k` best-scoring rows per query, best first; only rows that match at least one
        query term count, the remaining slots hold the padding row 0 with score 0.

        Args:
            queries: a list of n query strings, or one string.
            k: int >= 0. Clamped to the number of items.

        Returns:
            (rows `[n, k]` int64, scores `[n, k]` float32); `[k]` each for one string. Equal
            scores go to the lower row (`tfrec.core.topk.top_k`).
        """
        one = isinstance(queries, str)
        scores = np.atleast_2d(self.scores(queries))
        rows = top_k(scores, k, exclude_all=[PAD])
        picked = np.take_along_axis(scores, rows, axis=1)
        matched = picked > 0
        rows, picked = np.where(matched, rows, PAD), np.where(matched, picked, 0).astype(np.float32)
        return (rows[0], picked[0]) if one else (rows, picked)
