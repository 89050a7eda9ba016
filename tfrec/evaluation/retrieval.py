"""Offline evaluation of retrieval over the whole catalog, with baselines in the same run.

Tasks:
- `search`: one instance per held-out search (session, query); the relevant items are those the
  search led to, graded click 1, add_to_cart 2, purchase 3.
- `feed`: one instance per held-out user (home feed, no query): the user's history up to the start
  of the held-out period; the relevant items are those the user interacted with during it.

Slices: `all`; `unseen` (feed: items the user had already interacted with are removed from the
ranking and from the relevant set, i.e. discovery of new items); `cold` (only relevant items that
were first seen or launched after the training cutoff count; instances without one are skipped).

Metrics at each K: Recall@K (share of the relevant items in the top K), NDCG@K (graded gains,
log2 discount, normalised by the ideal ordering of the relevant items), HitRate@K (at least one
relevant item in the top K) and MRR (reciprocal rank of the first relevant item within the top
max K, 0 when none).

Models: `popularity` (training interactions per item), `bm25` (Okapi BM25 over title,
description, category and brand; search only), `zero_shot` (the pretrained text encoder with no
training: query text against item text; for the feed, the mean of the history items' text), and
`trained` (the two-tower model).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.core.topk import top_k
from tfrec.data.catalog import PAD
from tfrec.data.prepared import PreparedData
from tfrec.evaluation.metrics import bootstrap_interval, per_instance_metrics, recall_curve
from tfrec.evaluation.scorers import (
    Scorer,
    bm25_scorer,
    catalog_lexical_index,
    choose_fusion_weight,
    cooccurrence_scorer,
    fusion_summary,
    hybrid_scorer,
    model_scorer,
    popularity_scorer,
    zero_shot_scorer,
)


def _instances(data: PreparedData, task: str, split: str, limit: int, seed: int) -> pd.DataFrame:
    inst = (data.search_eval if task == "search" else data.feed_eval)[split]
    if limit and len(inst) > limit:
        inst = inst.sample(limit, random_state=seed).reset_index(drop=True)
    return inst.reset_index(drop=True)


def evaluate_scorers(
    data: PreparedData,
    scorers: dict[str, Scorer],
    task: str,
    split: str = "test",
    ks: list[int] = (10, 50, 100),
    max_instances: int = 0,
    seed: int = 0,
    batch_size: int = 512,
    curve_k: int = 100,
) -> dict:
    """Metrics of each scorer on one task, per slice, plus Recall@k curves for `all`.

    Returns `{"instances", "slices": {slice: {scorer: means}}, "curves": {scorer: [...]},
    "per_instance": {slice: {scorer: {metric: array}}}}`; the per-instance arrays of one slice
    are aligned across scorers (paired comparisons, `compare`)."""
    inst = _instances(data, task, split, max_instances, seed)
    ks = sorted(ks)
    out: dict = {"instances": len(inst), "slices": {}, "curves": {}, "per_instance": {}}
    if inst.empty:
        return out
    cold = data.cold_items
    max_k = max(max(ks), curve_k)
    slices = ["all", "cold"] + (["unseen"] if task == "feed" else [])
    for name, scorer in scorers.items():
        ranked_all, ranked_unseen = [], []
        for start in range(0, len(inst), batch_size):
            chunk = inst.iloc[start : start + batch_size]
            scores = np.asarray(scorer(chunk))
            ranked_all.append(top_k(scores, max_k, exclude_all=[PAD]))
            if task == "feed":
                ranked_unseen.append(
                    top_k(scores, max_k, exclude=list(chunk["seen"]), exclude_all=[PAD])
                )
        ranked = np.concatenate(ranked_all)
        for sl in slices:
            pos, gains, rows = [], [], []
            for row, (p, g) in enumerate(zip(inst["positives"], inst["gains"])):
                keep = np.ones(len(p), dtype=bool)
                if sl == "cold":
                    keep = cold[p]
                elif sl == "unseen":
                    keep = ~np.isin(p, inst["seen"].iloc[row])
                if keep.any():
                    pos.append(p[keep])
                    gains.append(g[keep])
                    rows.append(row)
            if not rows:
                continue
            r = np.concatenate(ranked_unseen) if sl == "unseen" else ranked
            per = per_instance_metrics(r[rows], pos, gains, ks)
            metrics = {key: float(values.mean()) for key, values in per.items()}
            metrics["instances"] = len(rows)
            out["slices"].setdefault(sl, {})[name] = metrics
            out["per_instance"].setdefault(sl, {})[name] = per
            if sl == "all":
                out["curves"][name] = recall_curve(r[rows], pos, curve_k).tolist()
    return out


def compare(
    result: dict, task: str, model: str, baselines: list[str], metrics: list[str], seed: int = 0
) -> list[dict]:
    """Paired differences `model - baseline` per slice with 95% bootstrap intervals over the
    instances; with several baselines, against the best of them per instance set (their
    highest mean). A row is flagged `worse` when the difference is below 0, `significantly
    worse` when its interval's upper end is too.

    Args:
        result: an `evaluate_scorers` result.
        task: its task name (for the rows).
        model: the scorer compared.
        baselines: the scorers it is compared with.
        metrics: per-instance metric names, e.g. `["recall@100", "ndcg@10"]`.
        seed: the bootstrap seed.

    Example:
        >>> compare(res, "search", "trained", ["zero_shot"], ["recall@100"])  # doctest: +SKIP
        [{'task': 'search', 'slice': 'all', 'comparison': 'trained - zero_shot', ...}]
    """
    rows = []
    for sl, per in result.get("per_instance", {}).items():
        present = [b for b in baselines if b in per]
        if model not in per or not present:
            continue
        for metric in metrics:
            if metric not in per[model]:
                continue
            best = max(present, key=lambda b: float(per[b][metric].mean()))
            diff = per[model][metric] - per[best][metric]
            lo, hi = bootstrap_interval(diff, seed=seed)
            mean = float(diff.mean())
            rows.append(
                {
                    "task": task,
                    "slice": sl,
                    "comparison": f"{model} - {best}",
                    "metric": metric,
                    "n": len(diff),
                    "difference": mean,
                    "95% low": lo,
                    "95% high": hi,
                    "flag": "significantly worse" if hi < 0 else ("worse" if mean < 0 else ""),
                }
            )
    return rows


def metrics_table(result: dict, task: str, ks: list[int]) -> pd.DataFrame:
    """One row per (slice, model) with the metrics as columns."""
    rows = []
    for sl, models in result.get("slices", {}).items():
        for model, m in models.items():
            row = {"task": task, "slice": sl, "model": model, "n": m["instances"]}
            for k in ks:
                row[f"R@{k}"] = m[f"recall@{k}"]
            for k in ks:
                row[f"NDCG@{k}"] = m[f"ndcg@{k}"]
            row[f"HR@{ks[-1]}"] = m[f"hitrate@{ks[-1]}"]
            row["MRR"] = m["mrr"]
            rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------------
# Report
# ------------------------------------------------------------------------------------------------


# ------------------------------------------------------------------------------------------------
# The `evaluate` stage
# ------------------------------------------------------------------------------------------------


def evaluate_retrieval(cfg: Config, data: PreparedData, model) -> dict:
    """Evaluate a trained retrieval model next to its baselines on the test split, print the
    table and the trained model's difference to the zero-shot encoder per slice.

    Args:
        cfg: the run's config (`evaluation`: ks, baselines, instance limits; `seed`).
        data: the prepared data.
        model: the trained `RetrievalModel`.

    Returns:
        `{"results": {task: evaluate_scorers result}, "sections": [(heading, table, curves)],
        "comparisons": DataFrame, "metrics": the `retrieval` section of metrics.json}`.

    Example:
        >>> out = evaluate_retrieval(cfg, data, model)  # doctest: +SKIP
        >>> out["metrics"]["retrieval"]["search"]["slices"]["all"]["trained"]["recall@100"]  # doctest: +SKIP
    """
    ev = cfg.evaluation
    # the frozen encoder's text embeddings, as the model holds them (the zero-shot baseline)
    item_text, query_text = model.item_text_table.numpy(), model.query_text_table.numpy()
    scorers: dict[str, Scorer] = {}
    if "popularity" in ev.baselines:
        scorers["popularity"] = popularity_scorer(data)
    if "zero_shot" in ev.baselines:
        scorers["zero_shot"] = zero_shot_scorer(data, item_text, query_text)
    scorers["trained"] = model_scorer(data, model)
    search_scorers = dict(scorers)
    lexical = catalog_lexical_index(data) if {"bm25", "hybrid"} & set(ev.baselines) else None
    if "bm25" in ev.baselines:
        search_scorers = {"bm25": bm25_scorer(data, lexical), **scorers}
    fusion = None
    if "hybrid" in ev.baselines and len(data.search_eval.get("val", ())):
        fusion = choose_fusion_weight(
            data,
            model,
            lexical,
            "val",
            depth=cfg.shop.hybrid_depth,
            max_instances=ev.max_queries,
            seed=cfg.seed,
        )
        echo(fusion_summary(fusion, cfg.shop.hybrid_weight))
        search_scorers["hybrid"] = hybrid_scorer(
            data, model, lexical, fusion["weight"], cfg.shop.hybrid_depth
        )
    feed_scorers = dict(scorers)
    if "cooccurrence" in ev.baselines:
        feed_scorers = {"cooccurrence": cooccurrence_scorer(data), **scorers}

    k_max = max(ev.ks)
    compared = [f"recall@{k_max}", f"ndcg@{min(ev.ks)}"]
    results, tables, sections, comparisons = {}, [], [], []
    for task, task_scorers, limit in (
        ("search", search_scorers, ev.max_queries),
        ("feed", feed_scorers, ev.max_users),
    ):
        res = evaluate_scorers(data, task_scorers, task, "test", ev.ks, limit, seed=cfg.seed)
        results[task] = res
        if not res["instances"]:
            echo(f"[evaluate] no held-out {task} instances in the test split; skipped")
            continue
        table = metrics_table(res, task, ev.ks)
        tables.append(table)
        label = (
            "held-out searches (query -> items)"
            if task == "search"
            else "held-out home feed (user -> next items)"
        )
        sections.append((f"{task}: {label}, {res['instances']} instances", table, res["curves"]))
        comparisons += compare(res, task, "trained", ["zero_shot"], compared, seed=cfg.seed)
        if task == "search":
            comparisons += compare(res, task, "hybrid", ["bm25", "trained"], compared, cfg.seed)

    comparison = pd.DataFrame(comparisons)
    with pd.option_context(
        "display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4f}".format
    ):
        if tables:
            full = pd.concat(tables, ignore_index=True)
            echo("[evaluate] test split, whole catalog (" + str(len(data.catalog) - 1) + " items)")
            echo(full.to_string(index=False))
        if not comparison.empty:
            echo(
                "[evaluate] trained minus zero-shot (and hybrid minus the better of BM25 and "
                "dense), paired, 95% bootstrap intervals over instances"
            )
            echo(comparison.to_string(index=False))
            worse = comparison[comparison["flag"] != ""]
            for _, row in worse.iterrows():
                model, baseline = row["comparison"].split(" - ")
                echo(
                    f"[evaluate] WARNING: {model} is {row['flag']} than {baseline} on "
                    f"{row['task']}/{row['slice']} {row['metric']} ({row['difference']:+.4f})"
                )
    if not comparison.empty:
        sections.append(
            (
                "trained minus zero-shot, hybrid minus the better of BM25 and dense (paired "
                "differences, 95% bootstrap intervals; flagged where the first is worse)",
                comparison,
                None,
            )
        )
    metrics = {
        "retrieval": {
            **{
                task: {"instances": r["instances"], "slices": r["slices"]}
                for task, r in results.items()
            },
            "comparisons": comparison.to_dict(orient="records"),
        }
    }
    if fusion is not None and "search" in metrics["retrieval"]:
        metrics["retrieval"]["search"]["hybrid_fusion"] = fusion
    return {
        "results": results,
        "sections": sections,
        "comparisons": comparison,
        "metrics": metrics,
    }


def report_notes(cfg: Config, data: PreparedData) -> list[str]:
    """The explanatory notes at the top of report/index.html."""
    return [
        f"Run {cfg.name}: {len(data.catalog) - 1} items; test period from "
        f"{data.cutoffs['test_start']}; models trained on events before {data.cutoffs['val_start']}.",
        "Slices: all = every held-out instance; cold = only items first seen or launched after the "
        "training cutoff count as relevant; unseen = items the user already interacted with are "
        "removed from the ranking and from the relevant set.",
    ]
