"""Scorers for whole-catalog evaluation: functions from evaluation instances to a score per
catalog item. `popularity` (training interactions per item), `bm25` (Okapi BM25 over title,
description, category and brand; search only), `zero_shot` (the pretrained text encoder with no
training) and the trained two-tower model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from tfrec.data.datasets import retrieval_features
from tfrec.data.prepared import PreparedData
from tfrec.evaluation.lexical import BM25

Scorer = Callable[[pd.DataFrame], np.ndarray]  # instances -> scores [n, N]


def popularity_scorer(data: PreparedData) -> Scorer:
    counts = data.item_train_counts.astype(np.float64)
    # ties (e.g. never-seen items) broken by a fixed tiny jitter so the order is deterministic
    counts = counts + np.random.default_rng(0).uniform(0, 1e-6, len(counts))
    return lambda inst: np.broadcast_to(counts, (len(inst), len(counts)))


def bm25_scorer(data: PreparedData) -> Scorer:
    c = data.catalog
    docs = [f"{c.texts[i]} {c.categories[i]} {c.brands[i]}" for i in range(len(c))]
    bm25 = BM25(docs)
    return lambda inst: (
        np.stack([bm25.scores(q) for q in inst["query"]]) if len(inst) else np.zeros((0, len(c)))
    )


def _normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def zero_shot_scorer(data: PreparedData, item_text: np.ndarray, query_text: np.ndarray) -> Scorer:
    """The pretrained encoder with no training: cosine of query text (search) or of the mean
    history item text (feed; popularity for users without history) with item text."""
    items = _normalise(item_text)
    queries = _normalise(query_text)
    popular = popularity_scorer(data)

    def score(inst: pd.DataFrame) -> np.ndarray:
        if "query_idx" in inst and len(inst) and (inst["query_idx"] > 0).all():
            return queries[inst["query_idx"].to_numpy()] @ items.T
        out = np.array(popular(inst), dtype=np.float64) * 1e-9
        for row, hist in enumerate(inst["history"]):
            hist = hist[hist > 0]
            if len(hist):
                out[row] = _normalise(items[hist].mean(axis=0)) @ items.T
        return out

    return score


def model_scorer(data: PreparedData, model) -> Scorer:
    """The trained two-tower model: query-side embedding dot every item embedding."""
    item_emb = model.all_item_embeddings()

    def score(inst: pd.DataFrame) -> np.ndarray:
        feats = retrieval_features(data, inst)
        if model.train_text:
            feats["query"] = feats["query"].astype(str)  # the fine-tuned encoder reads raw text
        else:
            feats.pop("query")  # frozen encoder: the cached query embeddings are identical
        query_emb = model.query_embeddings(feats).numpy()
        return query_emb @ item_emb.T

    return score
