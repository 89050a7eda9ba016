"""Lexical retrieval: Okapi BM25 over item documents (the `bm25` baseline)."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

_TOKEN = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(str(text).lower())


class BM25:
    """Okapi BM25 over item documents (k1 = 1.2, b = 0.75).

    Args:
        documents: list of str. One document per catalog row (row 0 is the padding item).
    """

    def __init__(self, documents: list[str], k1: float = 1.2, b: float = 0.75):
        self.k1 = k1
        self.b = b
        self.num_docs = len(documents)
        self.postings: dict[str, list[tuple[int, int]]] = {}
        lengths = np.zeros(self.num_docs)
        for doc_id, doc in enumerate(documents):
            counts = Counter(tokenize(doc))
            lengths[doc_id] = sum(counts.values())
            for term, tf in counts.items():
                self.postings.setdefault(term, []).append((doc_id, tf))
        self.norm = k1 * (1 - b + b * lengths / max(lengths.mean(), 1e-9))
        self.idf = {
            t: math.log(1 + (self.num_docs - len(p) + 0.5) / (len(p) + 0.5))
            for t, p in self.postings.items()
        }

    def scores(self, query: str) -> np.ndarray:
        out = np.zeros(self.num_docs)
        for term in set(tokenize(query)):
            for doc_id, tf in self.postings.get(term, ()):
                out[doc_id] += self.idf[term] * tf * (self.k1 + 1) / (tf + self.norm[doc_id])
        return out
