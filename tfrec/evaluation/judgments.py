"""Evaluating rankers trained on graded judgments, on held-out judged queries.

Every order is scored by NDCG@10 against the query's judged grades (linear gains, unjudged
items count 0; the ideal is the query's best judged items over the whole catalog, so a
re-ranker is also charged for relevant items its candidates miss):

- `retrieval (two-tower)`: the trained retrieval model over the whole catalog;
- `BM25` and `zero-shot encoder`: the lexical and pretrained-encoder baselines over the whole
  catalog (`tfrec.evaluation.scorers`);
- `listwise ranker`: the retrieval model's top `ranking.judgment_candidates` re-ranked;
- `cross-encoder`: the retrieval model's top `ranking.cross_encoder_candidates` re-ranked
  (when that is under 10, the retrieval order fills the top 10 below them);
- `oracle re-rank of the top C`: the best any re-ranker of those candidates could do.

Each trained ranker minus the retrieval order (and minus BM25) comes with a 95%
paired-bootstrap interval over the test queries (`bootstrap_interval`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tfrec.config import Config
from tfrec.core.topk import top_k
from tfrec.data.prepared import PreparedData
from tfrec.evaluation.metrics import bootstrap_interval, ndcg
from tfrec.evaluation.scorers import bm25_scorer, zero_shot_scorer
from tfrec.report.console import echo_table
from tfrec.text.frozen import FrozenTextEmbedder
from tfrec.training.judgment_lists import JudgmentLists, PairScorer
from tfrec.training.judgments import (
    TrainedJudgmentRankers,
    cross_encoder_scores,
    listwise_scores,
)

RETRIEVAL = "retrieval (two-tower)"
K = 10


def judgment_pair_scorers(cfg: Config, data: PreparedData, names) -> dict[str, PairScorer]:
    """Whole-catalog scorers of query strings: `bm25` (`bm25_scorer`) and `zero_shot` (the
    frozen encoder's cosine, `zero_shot_scorer`), for the names asked for.

    Args:
        cfg: the run's config (`text`: the frozen encoder and its cache).
        data: PreparedData. The catalog.
        names: iterable of `bm25`, `zero_shot`.

    Returns:
        dict. Name -> function(list of query strings) -> scores [n, catalog rows].

    Example:
        >>> scorers = judgment_pair_scorers(cfg, data, ["bm25"])  # doctest: +SKIP
        >>> scorers["bm25"](["red mug"]).shape  # doctest: +SKIP
        (1, 2001)
    """
    out: dict[str, PairScorer] = {}
    names = list(names)
    if "bm25" in names:
        bm25 = bm25_scorer(data)
        out["bm25"] = lambda queries: np.asarray(bm25(pd.DataFrame({"query": list(queries)})))
    if "zero_shot" in names:
        embed = FrozenTextEmbedder(cfg)
        items = embed(data.catalog.texts[1:])
        item_text = np.vstack([np.zeros((1, items.shape[1]), np.float32), items])

        def zero_shot(queries) -> np.ndarray:
            q = embed(list(queries))
            table = np.vstack([np.zeros((1, q.shape[1]), np.float32), q])
            inst = pd.DataFrame({"query_idx": np.arange(1, len(q) + 1)})
            return np.asarray(zero_shot_scorer(data, item_text, table)(inst))

        out["zero_shot"] = zero_shot
    return out


def _reorder(lists: JudgmentLists, scores: np.ndarray) -> np.ndarray:
    """Each list's items by descending score (ties keep the retrieval order)."""
    return np.take_along_axis(lists.items, np.argsort(-scores, axis=1, kind="stable"), axis=1)


def _per_query_ndcg(trained: TrainedJudgmentRankers, queries: list[str], order) -> np.ndarray:
    b = trained.builder
    return np.array(
        [ndcg(b.relevance(q, row[:K]), b.ideal_gains(q), K) for q, row in zip(queries, order)],
        np.float64,
    )


def _catalog_order(scorer: PairScorer, queries: list[str]) -> np.ndarray:
    out = [
        top_k(scorer(queries[s : s + 256]), K, exclude_all=[0]) for s in range(0, len(queries), 256)
    ]
    return np.concatenate(out) if out else np.zeros((0, K), np.int64)


def judgment_orders(
    cfg: Config,
    data: PreparedData,
    trained: TrainedJudgmentRankers,
    baselines: dict[str, PairScorer],
    queries: list[str],
) -> dict[str, np.ndarray]:
    """Each order's top items [n, >= 10] for `queries` (names as in the module docstring).

    Example:
        >>> orders = judgment_orders(cfg, data, trained, baselines, trained.split["test"])  # doctest: +SKIP
    """
    r, b = cfg.ranking, trained.builder
    retrieved = b.retrieve(queries, K)
    orders = {RETRIEVAL: retrieved}
    labels = {"bm25": "BM25", "zero_shot": "zero-shot encoder"}
    for name, scorer in baselines.items():
        orders[labels.get(name, name)] = _catalog_order(scorer, queries)
    rankers = []
    if trained.listwise is not None:
        rankers.append(
            (
                "listwise ranker",
                r.judgment_candidates,
                lambda lists: listwise_scores(trained.listwise, b, lists),
            )
        )
    if trained.cross_encoder is not None:
        rankers.append(
            (
                "cross-encoder",
                r.cross_encoder_candidates,
                lambda lists: cross_encoder_scores(trained.cross_encoder, data, lists),
            )
        )
    for name, n, score in rankers:
        lists = b.candidate_lists(queries, n)
        # a re-ranker orders the top n; below them the retrieval order goes on
        rest = retrieved[:, n:] if n < K else retrieved[:, :0]
        orders[f"{name} (re-ranks the top {n})"] = np.hstack([_reorder(lists, score(lists)), rest])
        orders[f"oracle re-rank of the top {n}"] = np.hstack(
            [_reorder(lists, lists.relevance), rest]
        )
    return orders


def judgment_tables(
    trained: TrainedJudgmentRankers, queries: list[str], orders: dict[str, np.ndarray], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(orders table, comparisons table): NDCG@10 per order with a 95% bootstrap interval of
    its mean and the share of relevant items in the top 10; each trained ranker minus the
    retrieval order and minus BM25, with 95% paired-bootstrap intervals over the queries.

    Example:
        >>> table, sig = judgment_tables(trained, test, orders, seed=42)  # doctest: +SKIP
    """
    b = trained.builder
    per_query = {name: _per_query_ndcg(trained, queries, o) for name, o in orders.items()}
    rows = []
    for name, values in per_query.items():
        lo, hi = bootstrap_interval(values, seed=seed)
        relevant = np.mean(
            [(b.relevance(q, o[:K]) > 0).mean() for q, o in zip(queries, orders[name])]
        )
        rows.append(
            {
                "order": name,
                "NDCG@10": float(values.mean()) if len(values) else float("nan"),
                "95% low": lo,
                "95% high": hi,
                "relevant@10": float(relevant),
            }
        )
    table = pd.DataFrame(rows)
    table.attrs["per_query"] = per_query
    comparisons = []
    for name in per_query:
        if not name.startswith(("listwise ranker", "cross-encoder")):
            continue
        for other in (RETRIEVAL, "BM25"):
            if other not in per_query:
                continue
            diff = per_query[name] - per_query[other]
            lo, hi = bootstrap_interval(diff, seed=seed)
            comparisons.append(
                {
                    "comparison": f"NDCG@10: {name} - {other}",
                    "difference": float(diff.mean()) if len(diff) else float("nan"),
                    "95% low": lo,
                    "95% high": hi,
                }
            )
    return table, pd.DataFrame(comparisons)


def _print(title: str, table: pd.DataFrame) -> None:
    echo_table(f"[ranking] {title}", table)


def evaluate_judgments(
    cfg: Config,
    data: PreparedData,
    trained: TrainedJudgmentRankers,
    baselines: dict[str, PairScorer],
) -> dict:
    """NDCG@10 of every order on the held-out test queries; prints the tables.

    Args:
        cfg: the run's config (`ranking`, `seed`).
        data: PreparedData. Titles and the catalog.
        trained: TrainedJudgmentRankers. The split, the list builder and the rankers.
        baselines: dict. `bm25` and `zero_shot` -> whole-catalog scorers
            (`judgment_pair_scorers`).

    Returns:
        dict with `metrics` (metrics.json's `ranking.judgments`) and `tables` (`orders`,
        `significance`, `queries`, `text`: what the report's judgments section shows).

    Example:
        >>> out = evaluate_judgments(cfg, data, trained, judgment_pair_scorers(cfg, data, ["bm25"]))  # doctest: +SKIP
        >>> out["metrics"]["orders"][0]["order"]  # doctest: +SKIP
        'retrieval (two-tower)'
    """
    test = trained.split["test"]
    orders = judgment_orders(cfg, data, trained, baselines, test)
    table, sig = judgment_tables(trained, test, orders, cfg.seed)
    r = cfg.ranking
    text = (
        f"{len(test)} held-out judged queries (split by query, seed {cfg.seed}; the rankers "
        f"trained on {len(trained.split['train'])} others and early-stopped on "
        f"{len(trained.split['val'])}), NDCG@10 against the judged grades (unjudged items "
        f"count 0; ideal = the query's best judged items in the whole catalog)"
    )
    _print(f"judgments: {text}", table)
    if not sig.empty:
        _print(
            "judgment rankers against their baselines: differences with 95% paired-"
            "bootstrap intervals over held-out queries",
            sig,
        )
    summary = {
        k: {n: v for n, v in s.items() if n != "history"} if isinstance(s, dict) else s
        for k, s in trained.summary.items()
    }
    metrics = {
        "test_queries": len(test),
        "split": {k: len(v) for k, v in trained.split.items()},
        "judgment_model": r.judgment_model,
        "candidates": {
            "listwise": r.judgment_candidates,
            "cross_encoder": r.cross_encoder_candidates,
        },
        "list_features": list(trained.builder.feature_names),
        "loss": "softmax cross-entropy over each query's list, gains = judged grades",
        "orders": table.to_dict(orient="records"),
        "significance": sig.to_dict(orient="records"),
        "training": summary,
    }
    return {"metrics": metrics, "tables": {"orders": table, "significance": sig, "text": text}}
