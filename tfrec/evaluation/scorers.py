"""Scorers for whole-catalog evaluation: functions from evaluation instances to a score per
catalog item. `popularity` (training interactions per item), `bm25` (Okapi BM25 over title,
description, category and brand; search only), `zero_shot` (the pretrained text encoder with no
training), the trained two-tower model, and `hybrid` (reciprocal-rank fusion of the BM25 and the
trained model's candidates, `tfrec.shop.hybrid`; search only), whose weight
`choose_fusion_weight` picks on the validation searches."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from tfrec.data.datasets import retrieval_features
from tfrec.data.prepared import PreparedData
from tfrec.evaluation.metrics import ranking_metrics
from tfrec.shop.cooccurrence import CoCounts
from tfrec.shop.hybrid import check_weight, hybrid_scores, ranked_candidates, rrf
from tfrec.text.lexical import LexicalIndex, item_documents

Scorer = Callable[[pd.DataFrame], np.ndarray]  # instances -> scores [n, N]
# the lexical shares `choose_fusion_weight` tries: 0 = the trained model alone, 1 = BM25 alone
FUSION_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def popularity_scorer(data: PreparedData) -> Scorer:
    counts = data.item_train_counts.astype(np.float64)
    # ties (e.g. never-seen items) broken by a fixed tiny jitter so the order is deterministic
    counts = counts + np.random.default_rng(0).uniform(0, 1e-6, len(counts))
    return lambda inst: np.broadcast_to(counts, (len(inst), len(counts)))


def catalog_lexical_index(data: PreparedData) -> LexicalIndex:
    """The BM25 index over the catalog's item texts (title, description), category paths and
    brands; build it once and hand it to `bm25_scorer`, `hybrid_scorer` and
    `choose_fusion_weight`.

    Example:
        >>> lexical = catalog_lexical_index(data)  # doctest: +SKIP
    """
    c = data.catalog
    return LexicalIndex(item_documents(c.texts, c.categories, c.brands))


def bm25_scorer(data: PreparedData, lexical: LexicalIndex | None = None) -> Scorer:
    """BM25 scores of the instances' queries (`lexical`, or an index built here)."""
    index = lexical if lexical is not None else catalog_lexical_index(data)
    return lambda inst: index.scores([str(q) for q in inst["query"]])


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


def cooccurrence_scorer(data: PreparedData) -> Scorer:
    """Item-kNN on co-occurrence (feed): items that appeared in the same training sessions as
    the user's history items (baskets for a transaction log), each history item's row
    normalised to the cosine c(a, b) / sqrt(n_a n_b) and summed; popularity breaks ties (and
    ranks for users without history).

    Args:
        data: the prepared data (its training examples' sessions).

    Example:
        >>> scores = cooccurrence_scorer(data)(data.feed_eval["test"].head(2))  # doctest: +SKIP
    """
    train = data.retrieval[data.retrieval["split"] == "train"]
    co = CoCounts.from_sessions(
        train["session_id"].to_numpy(), train["item_idx"].to_numpy(), len(data.catalog)
    )
    popular = popularity_scorer(data)

    def score(inst: pd.DataFrame) -> np.ndarray:
        out = np.array(popular(inst), dtype=np.float64) * 1e-9
        for row, hist in enumerate(inst["history"]):
            for item in np.unique(hist[hist > 0]):
                out[row] += co.dense_row(int(item), normalise=True)
        return out

    return score


def model_query_embeddings(data: PreparedData, model, inst: pd.DataFrame) -> np.ndarray:
    """The trained model's query-side embeddings [B, D] of evaluation instances."""
    feats = retrieval_features(data, inst)
    if model.train_text:
        feats["query"] = feats["query"].astype(str)  # the fine-tuned encoder reads raw text
    else:
        feats.pop("query")  # frozen encoder: the cached query embeddings are identical
    return model.query_embeddings(feats).numpy()


def model_scorer(data: PreparedData, model) -> Scorer:
    """The trained two-tower model: query-side embedding dot every item embedding."""
    item_emb = model.all_item_embeddings()
    return lambda inst: model_query_embeddings(data, model, inst) @ item_emb.T


def hybrid_scorer(
    data: PreparedData, model, lexical: LexicalIndex, weight: float, depth: int = 200
) -> Scorer:
    """Hybrid search: reciprocal-rank fusion of the trained model's and BM25's top `depth`
    (`tfrec.shop.hybrid.hybrid_scores`).

    Args:
        data: the prepared data.
        model: the trained `RetrievalModel`.
        lexical: the catalog's `LexicalIndex` (`catalog_lexical_index`).
        weight: float in [0, 1]. The BM25 share (`choose_fusion_weight(...)["weight"]`).
        depth: int. Candidates each side brings. Defaults to 200 (`shop.hybrid_depth`).

    Example:
        >>> fusion = choose_fusion_weight(data, model, lexical)  # doctest: +SKIP
        >>> scorer = hybrid_scorer(data, model, lexical, fusion["weight"])  # doctest: +SKIP
    """
    weight = check_weight(weight)
    dense = model_scorer(data, model)

    def score(inst: pd.DataFrame) -> np.ndarray:
        if not len(inst):
            return np.zeros((0, len(data.catalog)))
        queries = [str(q) for q in inst["query"]]
        return hybrid_scores(np.asarray(dense(inst)), lexical.scores(queries), weight, depth)

    return score


def choose_fusion_weight(
    data: PreparedData,
    model,
    lexical: LexicalIndex,
    split: str = "val",
    weights: tuple[float, ...] = FUSION_WEIGHTS,
    depth: int = 200,
    metric: str = "ndcg@10",
    max_instances: int = 0,
    seed: int = 0,
    batch_size: int = 512,
    fallback: float = 0.5,
) -> dict:
    """The BM25 share of hybrid search that scores best on the held-out searches of `split`.

    The trained model's and BM25's top `depth` are computed once per search; each weight of
    the grid only re-fuses them. Ties go to the smaller weight (closer to the trained model).

    Args:
        data: the prepared data.
        model: the trained `RetrievalModel`.
        lexical: the catalog's `LexicalIndex`.
        split: str. The held-out searches to choose on. Defaults to `val` (never `test`).
        weights: the grid, each in [0, 1]. Defaults to 0, 0.1, ..., 1.
        depth: int. Candidates each side brings. Defaults to 200.
        metric: str. What is maximised: `ndcg@K`, `recall@K`, `hitrate@K` or `mrr`.
        max_instances: int. A seeded sample of this many searches (0 = all).
        seed: int. The sample's seed.
        batch_size: int. Searches scored at once.
        fallback: float. The weight returned when `split` has no searches.

    Returns:
        `{"split", "metric", "instances", "weight", "chosen", "grid"}`: `grid` lists, per
        weight, Recall@10/100, NDCG@10 and MRR; `chosen` is False (and `weight` the fallback)
        when there was nothing to choose on.

    Example:
        >>> fusion = choose_fusion_weight(data, model, lexical)  # doctest: +SKIP
        >>> fusion["weight"], fusion["grid"][0]["ndcg@10"]  # doctest: +SKIP
        (0.3, 0.21)
    """
    for w in weights:
        check_weight(w)
    name, _, cut = metric.partition("@")
    if not (metric == "mrr" or (name in ("ndcg", "recall", "hitrate") and cut.isdigit())):
        raise ValueError(f"metric must be ndcg@K, recall@K, hitrate@K or mrr; got {metric!r}")
    ks = sorted({10, 100} | ({int(cut)} if cut else set()))
    inst = data.search_eval.get(split, pd.DataFrame())
    if max_instances and len(inst) > max_instances:
        inst = inst.sample(max_instances, random_state=seed)
    inst = inst.reset_index(drop=True)
    out = {"split": split, "metric": metric, "instances": len(inst), "depth": depth}
    if inst.empty:
        return {**out, "weight": float(fallback), "chosen": False, "grid": []}
    dense = model_scorer(data, model)
    dense_rows, lexical_rows = [], []
    for start in range(0, len(inst), batch_size):
        chunk = inst.iloc[start : start + batch_size]
        dense_rows.append(ranked_candidates(np.asarray(dense(chunk)), depth))
        bm25 = lexical.scores([str(q) for q in chunk["query"]])
        lexical_rows.append(ranked_candidates(bm25, depth, matched_only=True))
    dense_rows, lexical_rows = np.concatenate(dense_rows), np.concatenate(lexical_rows)
    positives, gains = list(inst["positives"]), list(inst["gains"])
    grid = []
    for w in weights:
        ranked, _ = rrf([dense_rows, lexical_rows], [1.0 - w, w])
        grid.append({"weight": float(w), **ranking_metrics(ranked, positives, gains, ks)})
    best = max(grid, key=lambda row: row[metric])  # the first of equal values: smaller weight
    return {**out, "weight": best["weight"], "chosen": True, "grid": grid}


def fusion_summary(fusion: dict, configured: float | None = None) -> str:
    """One line on the chosen fusion weight, e.g. for the evaluate stage's log."""
    if not fusion["chosen"]:
        return (
            f"[evaluate] hybrid: no {fusion['split']} searches to choose the BM25 weight on; "
            f"using {fusion['weight']:g}"
        )
    metric = fusion["metric"]
    values = ", ".join(f"{row['weight']:g}: {row[metric]:.4f}" for row in fusion["grid"])
    line = (
        f"[evaluate] hybrid: BM25 weight {fusion['weight']:g} chosen on {fusion['instances']} "
        f"{fusion['split']} searches by {metric} ({values})"
    )
    if configured is not None and configured != fusion["weight"]:
        line += f"; serving uses shop.hybrid_weight = {configured:g}"
    return line
