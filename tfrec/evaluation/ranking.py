"""Evaluating the CTR ranker on the test split, next to its logistic-regression baseline.

- click and purchase prediction on the test impressions: AUC, LogLoss and GAUC (per query and
  per user), calibration (`classification_table`);
- the effect of fixing the position: the shown items of each test search re-ordered by each
  score (`position_effect_table`);
- end to end: NDCG@10 / purchase Recall@10 of retrieval then ranking on held-out searches (the
  ranker's score alone, and its serving score log(score) + beta * dot / temperature, beta
  chosen on the validation searches and set on the model as `retrieval_weight`)
  (`end_to_end_table`);
- each comparison with a 95% paired-bootstrap interval (`significance_table`).

`evaluate_ranking` prints the tables and returns them with the metrics; the ranking stage
writes metrics.json and report/ranking.html.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tfrec.config import Config
from tfrec.core.topk import top_k
from tfrec.data.prepared import PreparedData
from tfrec.evaluation.metrics import (
    auc,
    bootstrap_auc_difference,
    bootstrap_interval,
    calibration_bins,
    gauc,
    log_loss,
    ndcg_at,
    ndcg_per_instance,
    ranking_metrics,
)
from tfrec.evaluation.scorers import model_scorer
from tfrec.models.ranking import RankingModel
from tfrec.models.ranking_features import RankingFeatureBuilder
from tfrec.report.console import echo_table

GAIN = {"click": 1.0, "add_to_cart": 2.0, "purchase": 3.0}


def _predict(model: RankingModel, feats: dict, fixed: bool, batch_size: int = 8192) -> dict:
    """The model's outputs over `feats` in batches: at the logged position, or (`fixed`) at the
    serving position (the serving score too when `feats` carry `retrieval_logit`)."""
    outs: dict[str, list] = {}
    n = len(feats["hour"])
    for start in range(0, n, batch_size):
        chunk = {k: v[start : start + batch_size] for k, v in feats.items()}
        if fixed and "retrieval_logit" not in chunk:  # impressions: the ranker's score alone
            res = model({k: v for k, v in chunk.items() if k != "position"})
        else:
            res = model.serving_scores(chunk) if fixed else model(chunk)
        for k, v in res.items():
            outs.setdefault(k, []).append(v.numpy())
    return {k: np.concatenate(v) for k, v in outs.items()}


def classification_table(frame: pd.DataFrame, labels: dict, preds: dict[str, dict]) -> pd.DataFrame:
    """AUC, LogLoss and GAUC per query and per user of click and purchase predictions.

    Args:
        frame: pd.DataFrame. The impressions (`query`, `user_id` columns).
        labels: dict. `click` and `purchase` labels of its rows.
        preds: dict. Row name -> the model's outputs (`click`, `purchase`) on the rows.

    Example:
        >>> classification_table(frame, labels, {"ranker": _predict(ranker, feats, False)})  # doctest: +SKIP
    """
    rows = []
    for name, p in preds.items():
        row = {"model": name}
        for label, key in (("click", "click"), ("purchase", "purchase")):
            y = labels[label]
            row[f"{label} AUC"] = auc(y, p[key])
            row[f"{label} LogLoss"] = (
                log_loss(y, p[key]) if key == "click" or p[key].any() else float("nan")
            )
            row[f"{label} GAUC/query"] = gauc(y, p[key], frame["query"].to_numpy())
            row[f"{label} GAUC/user"] = gauc(y, p[key], frame["user_id"].to_numpy())
        rows.append(row)
    return pd.DataFrame(rows)


def position_effect_table(
    frame: pd.DataFrame, scores: dict[str, np.ndarray], judged: dict | None
) -> pd.DataFrame:
    """NDCG@10 of each test search's shown items ordered by each score, against the logged
    gains (purchase 3, add_to_cart 2, click 1) and, when judgments exist, the graded judgments.

    Args:
        frame: pd.DataFrame. The test impressions (`search_id`, `position`, labels).
        scores: dict. Row name -> a score per impression (higher first).
        judged: dict or None. (query, item_id) -> judged relevance.

    Example:
        >>> position_effect_table(frame, {"logged": -frame["position"].to_numpy()}, None)  # doctest: +SKIP
    """
    gains = np.maximum.reduce([frame[k].to_numpy() * g for k, g in GAIN.items()]).astype(np.float64)
    rel = None
    if judged is not None:
        rel = np.array(
            [judged.get((q, i), 0.0) for q, i in zip(frame["query"], frame["item_id"])], np.float64
        )
    groups = frame.groupby("search_id", sort=False).indices
    rows = []
    for name, s in scores.items():
        logged, truth = [], []
        for idx in groups.values():
            order = idx[np.lexsort((frame["position"].to_numpy()[idx], -s[idx]))]
            logged.append(gains[order])
            if rel is not None and frame["query"].iat[idx[0]]:
                truth.append(rel[order])
        row = {"order": name, "NDCG@10 (logged clicks/purchases)": ndcg_at(logged, 10)}
        if rel is not None:
            row["NDCG@10 (judged relevance)"] = ndcg_at(truth, 10)
        rows.append(row)
    return pd.DataFrame(rows)


FUSION_WEIGHTS = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 8.0)


def _retrieve_and_score(cfg, data, retrieval_model, builder, inst, rankers) -> dict:
    """Top `ranking.candidates` per search, the retrieval logits (dot / temperature) and each
    ranker's log ordering score at the serving position."""
    scorer = model_scorer(data, retrieval_model)
    c = cfg.ranking.candidates
    cands, logits = [], []
    for start in range(0, len(inst), 256):
        scores = scorer(inst.iloc[start : start + 256])
        top = top_k(scores, c)
        cands.append(top)
        logits.append(np.take_along_axis(scores, top, axis=1) / cfg.retrieval.temperature)
    candidates, logits = np.concatenate(cands), np.concatenate(logits)
    q_emb = builder.query_embeddings(inst)
    hours = pd.to_datetime(inst["timestamp"]).dt.hour.to_numpy(np.int64)
    feats = builder.candidate_features(q_emb, candidates, hours, np.stack(inst["history"]))
    log_scores = {
        name: np.log(np.maximum(_predict(m, feats, fixed=True)["score"], 1e-12)).reshape(
            candidates.shape
        )
        for name, m in rankers.items()
    }
    feats["retrieval_logit"] = logits.reshape(-1).astype(np.float32)
    return {"candidates": candidates, "logits": logits, "log_scores": log_scores, "feats": feats}


def _order(candidates: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Each row's candidates sorted by descending score (a full sort: every candidate is kept)."""
    return np.take_along_axis(candidates, np.argsort(-scores, axis=1, kind="stable"), axis=1)


def _instances(data: PreparedData, split: str, limit: int, seed: int) -> pd.DataFrame:
    inst = data.search_eval[split]
    if limit and len(inst) > limit:
        inst = inst.sample(limit, random_state=seed)
    return inst.reset_index(drop=True)


def end_to_end_table(
    cfg: Config,
    data: PreparedData,
    retrieval_model,
    builder: RankingFeatureBuilder,
    rankers: dict[str, RankingModel],
    judged: dict | None = None,
) -> tuple[pd.DataFrame, int]:
    """Retrieve the top `ranking.candidates` items per held-out test search with the retrieval
    model and re-rank them with each ranker (position fixed), by its ordering score alone and
    by its serving score log(score) + beta * retrieval logit (dot / temperature), beta chosen
    from `FUSION_WEIGHTS` by NDCG@10 on the validation searches and set as the ranker's
    `retrieval_weight` (saved with it). NDCG@10, Recall@10, MRR and purchase
    Recall@10 (logged gains) and, with judgments, NDCG@10 of the judged relevance, next to the
    retrieval order alone.

    Args:
        cfg: the run's config (`ranking.candidates`, `ranking.max_eval_searches`, `seed`,
            `retrieval.temperature`).
        data: PreparedData. Its held-out `search_eval` searches.
        retrieval_model: the trained `RetrievalModel`.
        builder: RankingFeatureBuilder. Features of the retrieved candidates.
        rankers: dict. Name -> `RankingModel`; each one's `retrieval_weight` is set.
        judged: dict or None. (query, item_id) -> judged relevance (`judgment_lookup`).

    Returns:
        (table, number of test searches); the table's `attrs` carry `recall_at_candidates`,
        `purchase_searches`, `fusion_weights` and `per_search` (per-search NDCG per order).

    Example:
        >>> table, n = end_to_end_table(cfg, data, model, builder, {"ranker": ranker})  # doctest: +SKIP
    """
    limit = cfg.ranking.max_eval_searches
    test = _instances(data, "test", limit, cfg.seed)
    if test.empty:
        return pd.DataFrame(), 0
    val = _instances(data, "val", limit, cfg.seed)
    betas = {name: 0.0 for name in rankers}
    if not val.empty:
        v = _retrieve_and_score(cfg, data, retrieval_model, builder, val, rankers)
        pos, gains = list(val["positives"]), list(val["gains"])
        for name in rankers:
            ndcg = {
                b: ranking_metrics(
                    _order(v["candidates"], v["log_scores"][name] + b * v["logits"]),
                    pos,
                    gains,
                    [10],
                )["ndcg@10"]
                for b in FUSION_WEIGHTS
            }
            betas[name] = max(ndcg, key=ndcg.get)
    for name, model in rankers.items():
        model.retrieval_weight = float(betas[name])
    t = _retrieve_and_score(cfg, data, retrieval_model, builder, test, rankers)
    candidates = t["candidates"]
    orders = {"retrieval only": candidates}
    for name, model in rankers.items():
        orders[f"retrieval + {name} score alone"] = _order(candidates, t["log_scores"][name])
        serving = _predict(model, t["feats"], fixed=True)["serving_score"]
        orders[f"retrieval + {name} serving score (beta {betas[name]:g} from val)"] = _order(
            candidates, serving.reshape(candidates.shape)
        )
    positives, gains = list(test["positives"]), list(test["gains"])
    bought = [(p[g >= 3], g[g >= 3]) for p, g in zip(positives, gains)]
    rows_p = [i for i, (p, _) in enumerate(bought) if len(p)]
    rows = []
    per_search: dict[str, dict[str, np.ndarray]] = {}
    for name, ranked in orders.items():
        m = ranking_metrics(ranked, positives, gains, [10])
        row = {"order": name, "NDCG@10": m["ndcg@10"], "Recall@10": m["recall@10"], "MRR": m["mrr"]}
        per_search[name] = {"NDCG@10": ndcg_per_instance(ranked, positives, gains, 10)}
        if rows_p:
            mp = ranking_metrics(
                ranked[rows_p], [bought[i][0] for i in rows_p], [bought[i][1] for i in rows_p], [10]
            )
            row["purchase Recall@10"] = mp["recall@10"]
        if judged is not None:
            rel = [
                np.array([judged.get((q, data.catalog.item_ids[i]), 0.0) for i in r], np.float64)
                for q, r in zip(test["query"], ranked)
            ]
            row["NDCG@10 (judged)"] = ndcg_at(rel, 10)
            per_search[name]["NDCG@10 (judged)"] = np.array(
                [ndcg_at([r], 10) for r in rel], np.float64
            )
        rows.append(row)
    c = cfg.ranking.candidates
    table = pd.DataFrame(rows)
    table.attrs["recall_at_candidates"] = ranking_metrics(candidates, positives, gains, [c])[
        f"recall@{c}"
    ]
    table.attrs["purchase_searches"] = len(rows_p)
    table.attrs["fusion_weights"] = betas
    table.attrs["per_search"] = per_search
    return table, len(test)


def significance_table(
    frame: pd.DataFrame, labels: dict, preds: dict[str, dict], e2e: pd.DataFrame, seed: int
) -> pd.DataFrame:
    """The comparisons the ranking stage is judged by, each as a difference with its 95%
    paired-bootstrap interval over test searches: the ranker's click and purchase AUC minus the
    logistic regression's (same impressions, logged position), and the NDCG@10 of retrieval
    then the ranker's serving score minus retrieval alone and minus retrieval then the logistic
    regression's serving score. An interval above 0 is a win beyond test-sample noise (it does
    not cover the spread between training seeds).

    Args:
        frame: pd.DataFrame. The test impressions (`search_id`).
        labels: dict. `click` and `purchase` labels.
        preds: dict. `ranker` and `logistic regression` outputs at the logged position.
        e2e: pd.DataFrame. `end_to_end_table`'s table (its `per_search` attr), or empty.
        seed: int. Bootstrap seed.

    Example:
        >>> significance_table(frame, labels, preds, e2e, seed=0)["comparison"][0]  # doctest: +SKIP
        'click AUC: ranker - logistic regression'
    """
    groups = frame["search_id"].to_numpy()
    ranker, lr = preds["ranker"], preds["logistic regression"]
    rows = []
    for label in ("click", "purchase"):
        d, lo, hi = bootstrap_auc_difference(
            labels[label], ranker[label], lr[label], groups, seed=seed
        )
        rows.append(
            {
                "comparison": f"{label} AUC: ranker - logistic regression",
                "difference": d,
                "95% low": lo,
                "95% high": hi,
            }
        )
    per_search = e2e.attrs.get("per_search", {})

    def order(prefix: str) -> str | None:
        return next((n for n in per_search if n.startswith(prefix)), None)

    base = order("retrieval only")
    ranked = order("retrieval + ranker serving score")
    lr_name = order("retrieval + logistic regression serving score")
    if base and ranked and lr_name:
        for metric in per_search[base]:
            for other, what in ((base, "retrieval alone"), (lr_name, "retrieval + LR")):
                diff = per_search[ranked][metric] - per_search[other][metric]
                diff = diff[~np.isnan(diff)]
                lo, hi = bootstrap_interval(diff, seed=seed)
                rows.append(
                    {
                        "comparison": f"{metric}: retrieval + ranker - {what}",
                        "difference": float(diff.mean()) if len(diff) else float("nan"),
                        "95% low": lo,
                        "95% high": hi,
                    }
                )
    return pd.DataFrame(rows)


def _print(title: str, table: pd.DataFrame) -> None:
    echo_table(f"[ranking] {title}", table)


def evaluate_ranking(
    cfg: Config,
    data: PreparedData,
    ranker: RankingModel,
    baseline: RankingModel,
    retrieval_model,
    prepared: dict,
    judged: dict | None = None,
) -> dict:
    """Test-split metrics of the ranker next to the logistic-regression baseline; prints the
    tables. Sets each model's `retrieval_weight` (chosen on the validation searches).

    Args:
        cfg: the run's config.
        data: PreparedData. The run's prepared data.
        ranker: RankingModel. The trained ranker.
        baseline: RankingModel. The trained logistic-regression baseline.
        retrieval_model: the trained `RetrievalModel` (retrieves the end-to-end candidates).
        prepared: dict. `prepare_ranking_inputs`'s frames, inputs and builder.
        judged: dict or None. (query, item_id) -> judged relevance (`judgment_lookup`).

    Returns:
        dict with `metrics` (`{"ranking": ...}`, for metrics.json) and `tables`
        (`classification`, `position_effect`, `end_to_end`, `searches`, `calibration`,
        `significance`: what `tfrec.report.ranking.write_ranking_report` takes).

    Example:
        >>> out = evaluate_ranking(cfg, data, ranker, baseline, model, prepared)  # doctest: +SKIP
        >>> out["metrics"]["ranking"]["end_to_end"]["fusion_weights_from_val"]  # doctest: +SKIP
        {'ranker': 1.0, 'logistic regression': 0.5}
    """
    frame = prepared["frames"]["test"]
    feats, labels = prepared["inputs"]["test"]
    preds_logged = {
        "ranker": _predict(ranker, feats, False),
        "logistic regression": _predict(baseline, feats, False),
    }
    preds_fixed = {
        "ranker": _predict(ranker, feats, True),
        "logistic regression": _predict(baseline, feats, True),
    }
    cls = classification_table(
        frame,
        labels,
        {
            "ranker (logged position)": preds_logged["ranker"],
            "logistic regression (logged position)": preds_logged["logistic regression"],
            "ranker (position fixed to 1)": preds_fixed["ranker"],
            "logistic regression (position fixed to 1)": preds_fixed["logistic regression"],
        },
    )
    pos_scores = {
        "logged order (the engine's)": -frame["position"].to_numpy(np.float64),
        "ranker score at logged position": preds_logged["ranker"]["score"],
        "ranker score at position 1": preds_fixed["ranker"]["score"],
        "LR score at logged position": preds_logged["logistic regression"]["score"],
        "LR score at position 1": preds_fixed["logistic regression"]["score"],
    }
    pos_table = position_effect_table(frame, pos_scores, judged)
    e2e, n_searches = end_to_end_table(
        cfg,
        data,
        retrieval_model,
        prepared["builder"],
        {"ranker": ranker, "logistic regression": baseline},
        judged,
    )
    sig = significance_table(frame, labels, preds_logged, e2e, cfg.seed)
    _print(f"test impressions ({len(frame)}): click and purchase prediction", cls)
    _print("position effect: shown items of each test search re-ordered", pos_table)
    if n_searches:
        _print(
            f"end to end: top {cfg.ranking.candidates} retrieved per held-out test search "
            f"({n_searches} searches, {e2e.attrs['purchase_searches']} with a purchase; "
            f"Recall@{cfg.ranking.candidates} of the candidates "
            f"{e2e.attrs['recall_at_candidates']:.4f}), re-ranked at position 1",
            e2e,
        )
    _print(
        "the ranker against its baselines: differences with 95% paired-bootstrap intervals "
        "over test searches",
        sig,
    )
    calib = {
        "ranker": calibration_bins(labels["click"], preds_logged["ranker"]["click"]),
        "logistic regression": calibration_bins(
            labels["click"], preds_logged["logistic regression"]["click"]
        ),
    }
    metrics = {
        "ranking": {
            "test_impressions": len(frame),
            "purchase_head": bool(ranker.purchase_head),
            "score": "p_click * (1 + w * p_purchase_given_click), w = "
            f"{ranker.purchase_score_weight}",
            "classification": cls.to_dict(orient="records"),
            "position_effect": pos_table.to_dict(orient="records"),
            "significance": sig.to_dict(orient="records"),
            "end_to_end": {
                "searches": n_searches,
                "candidates": cfg.ranking.candidates,
                "recall_at_candidates": e2e.attrs.get("recall_at_candidates"),
                "fusion_weights_from_val": e2e.attrs.get("fusion_weights"),
                "rows": e2e.to_dict(orient="records"),
            },
            "calibration": {k: v.reset_index().to_dict(orient="records") for k, v in calib.items()},
        }
    }
    tables = {
        "classification": cls,
        "position_effect": pos_table,
        "end_to_end": e2e,
        "searches": n_searches,
        "calibration": calib,
        "significance": sig,
    }
    return {"metrics": metrics, "tables": tables}


def judgment_lookup(judgments: pd.DataFrame | None) -> dict | None:
    """(query, item_id) -> graded relevance of a judgments table (None when there is none).

    Args:
        judgments: pd.DataFrame or None. The clean `judgments` table (`query`, `item_id`,
            `relevance`).

    Example:
        >>> j = pd.DataFrame({"query": [" shoes"], "item_id": ["i1"], "relevance": [2]})
        >>> judgment_lookup(j)
        {('shoes', 'i1'): 2.0}
    """
    if judgments is None:
        return None
    return {
        (str(q).strip(), i): float(r)
        for q, i, r in zip(judgments["query"], judgments["item_id"], judgments["relevance"])
    }
