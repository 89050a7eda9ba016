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

import html
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from tfrec.data.datasets import PAD, PreparedData, retrieval_features
from tfrec.report_page import PAGE_END, figure_png, img, page_start

Scorer = Callable[[pd.DataFrame], np.ndarray]  # instances -> scores [n, N]


# ------------------------------------------------------------------------------------------------
# Metrics
# ------------------------------------------------------------------------------------------------


def top_k(scores: np.ndarray, k: int, exclude: list[np.ndarray] | None = None) -> np.ndarray:
    """Indices of the k best items per row (best first); the padding row and `exclude` never win."""
    scores = np.array(scores, dtype=np.float64, copy=True)
    scores[:, PAD] = -np.inf
    if exclude is not None:
        for row, items in enumerate(exclude):
            if len(items):
                scores[row, items] = -np.inf
    k = min(k, scores.shape[1] - 1)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, part, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(part, order, axis=1)


def ranking_metrics(
    ranked: np.ndarray, positives: list[np.ndarray], gains: list[np.ndarray], ks: list[int]
) -> dict[str, float]:
    """Mean Recall@K, NDCG@K, HitRate@K over instances, and MRR within the top max(ks)."""
    if len(positives) == 0:
        return {}
    per = per_instance_metrics(ranked, positives, gains, ks)
    return {key: float(values.mean()) for key, values in per.items()}


def per_instance_metrics(
    ranked: np.ndarray, positives: list[np.ndarray], gains: list[np.ndarray], ks: list[int]
) -> dict[str, np.ndarray]:
    """`ranking_metrics` per instance: each metric as an array with one value per row (for
    paired comparisons and bootstrap intervals)."""
    n = len(positives)
    out = {f"{m}@{k}": np.zeros(n) for k in ks for m in ("recall", "hitrate", "ndcg")}
    out["mrr"] = np.zeros(n)
    discounts = 1.0 / np.log2(np.arange(2, ranked.shape[1] + 2))
    for row in range(n):
        gain_of = dict(zip(np.asarray(positives[row]).tolist(), np.asarray(gains[row]).tolist()))
        hits = np.array([gain_of.get(int(i), 0.0) for i in ranked[row]])
        relevant = hits > 0
        ideal = np.sort(np.asarray(gains[row], dtype=np.float64))[::-1]
        for k in ks:
            top = relevant[:k]
            out[f"recall@{k}"][row] = top.sum() / len(gain_of)
            out[f"hitrate@{k}"][row] = float(top.any())
            dcg = float((hits[:k] * discounts[:k]).sum())
            m = min(k, len(ideal))
            idcg = float((ideal[:m] * discounts[:m]).sum())
            out[f"ndcg@{k}"][row] = dcg / idcg if idcg > 0 else 0.0
        first = np.flatnonzero(relevant)
        out["mrr"][row] = 1.0 / (first[0] + 1) if len(first) else 0.0
    return out


def recall_curve(ranked: np.ndarray, positives: list[np.ndarray], max_k: int) -> np.ndarray:
    """Mean Recall@k for k = 1..max_k."""
    curve = np.zeros(max_k)
    for row, pos in enumerate(positives):
        hits = np.zeros(max_k)
        top = ranked[row, :max_k]
        hits[: len(top)] = np.isin(top, pos)
        curve += np.cumsum(hits) / len(pos)
    return curve / max(len(positives), 1)


# ------------------------------------------------------------------------------------------------
# BM25
# ------------------------------------------------------------------------------------------------

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


# ------------------------------------------------------------------------------------------------
# Scorers
# ------------------------------------------------------------------------------------------------


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


# ------------------------------------------------------------------------------------------------
# Running an evaluation
# ------------------------------------------------------------------------------------------------


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
    """Metrics of each scorer on one task, per slice, plus Recall@k curves for `all`."""
    inst = _instances(data, task, split, max_instances, seed)
    ks = sorted(ks)
    out: dict = {"instances": len(inst), "slices": {}, "curves": {}}
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
            ranked_all.append(top_k(scores, max_k))
            if task == "feed":
                ranked_unseen.append(top_k(scores, max_k, exclude=list(chunk["seen"])))
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
            metrics = ranking_metrics(r[rows], pos, gains, ks)
            metrics["instances"] = len(rows)
            out["slices"].setdefault(sl, {})[name] = metrics
            if sl == "all":
                out["curves"][name] = recall_curve(r[rows], pos, curve_k).tolist()
    return out


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


def _plot_curves(curves: dict[str, list[float]], title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, curve in curves.items():
        ax.plot(np.arange(1, len(curve) + 1), curve, label=name)
    ax.set_xlabel("K")
    ax.set_ylabel("Recall@K")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return figure_png(fig)


def write_report(
    out_dir: Path,
    title: str,
    sections: list[tuple[str, pd.DataFrame, dict[str, list[float]] | None]],
    notes: list[str] = (),
) -> Path:
    """A self-contained HTML page: a table and a Recall@K plot per section."""
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = page_start(title, "td:nth-child(-n+3){text-align:left}")
    parts += [f"<p>{html.escape(n)}</p>" for n in notes]
    for heading, table, curves in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if not table.empty:
            parts.append(_html_table(table))
        if curves:
            parts.append(img(_plot_curves(curves, heading), f"Recall@K, {heading}"))
    parts.append(PAGE_END)
    path = out_dir / "index.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


REPORT_PAGES = {
    "index.html": "retrieval",
    "ranking.html": "ranking",
    "shop.html": "shop capabilities",
    "tuning.html": "tuning",
}
_NAV_START, _NAV_END = "<!-- tfrec-nav -->", "<!-- /tfrec-nav -->"


def link_report_pages(report_dir: Path) -> list[Path]:
    """Put a navigation bar linking every report page that exists at the top of each of them
    (replacing an older bar), so the pages written by different stages read as one report."""
    pages = [report_dir / name for name in REPORT_PAGES if (report_dir / name).exists()]
    links = " | ".join(f"<a href='{p.name}'>{html.escape(REPORT_PAGES[p.name])}</a>" for p in pages)
    bar = f"{_NAV_START}<nav style='margin-bottom:1em'>{links}</nav>{_NAV_END}"
    for page in pages:
        text = page.read_text(encoding="utf-8")
        if _NAV_START in text:
            text = re.sub(
                re.escape(_NAV_START) + ".*?" + re.escape(_NAV_END), bar, text, flags=re.S
            )
        elif "<body>" in text:
            text = text.replace("<body>", "<body>" + bar, 1)
        else:
            continue
        page.write_text(text, encoding="utf-8")
    return pages


def _html_table(table: pd.DataFrame) -> str:
    """A table with the best value per metric column and slice in bold."""
    cols = list(table.columns)
    metric_cols = [c for c in cols if c not in ("task", "slice", "model", "n", "note")]
    best = {}
    if "slice" in table:
        for sl, g in table.groupby("slice"):
            for c in metric_cols:
                best[(sl, c)] = g[c].max()
    out = ["<table><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in cols) + "</tr>"]
    for _, row in table.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            text = f"{v:.4f}" if isinstance(v, float) else html.escape(str(v))
            cls = (
                " class='best'" if c in metric_cols and best.get((row.get("slice"), c)) == v else ""
            )
            cells.append(f"<td{cls}>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def save_metrics(path: Path, metrics: dict) -> None:
    """Merge `metrics` into the run's metrics.json (stages add their own sections)."""
    existing = json.loads(path.read_text()) if path.exists() else {}
    existing.update(metrics)
    path.write_text(json.dumps(existing, indent=2, default=float))


# ------------------------------------------------------------------------------------------------
# The `evaluate` stage
# ------------------------------------------------------------------------------------------------


def evaluate_run(cfg, run, data: PreparedData | None = None, model=None) -> dict:
    """Evaluate the trained retrieval model of a run next to its baselines on the test split;
    print the table, write metrics.json and report/index.html."""
    from tfrec.pipeline import echo, load_prepared
    from tfrec.retrieval_training import load_retrieval_model

    data = data or load_prepared(cfg, run)
    ev = cfg.evaluation
    model = model or load_retrieval_model(cfg, run, data)
    # the frozen encoder's text embeddings, as the model holds them (the zero-shot baseline)
    item_text, query_text = model.item_text_table.numpy(), model.query_text_table.numpy()
    scorers: dict[str, Scorer] = {}
    if "popularity" in ev.baselines:
        scorers["popularity"] = popularity_scorer(data)
    if "zero_shot" in ev.baselines:
        scorers["zero_shot"] = zero_shot_scorer(data, item_text, query_text)
    scorers["trained"] = model_scorer(data, model)
    search_scorers = dict(scorers)
    if "bm25" in ev.baselines:
        search_scorers = {"bm25": bm25_scorer(data), **scorers}

    results, tables, sections = {}, [], []
    for task, task_scorers, limit in (
        ("search", search_scorers, ev.max_queries),
        ("feed", scorers, ev.max_users),
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

    if tables:
        full = pd.concat(tables, ignore_index=True)
        with pd.option_context(
            "display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4f}".format
        ):
            echo("[evaluate] test split, whole catalog (" + str(len(data.catalog) - 1) + " items)")
            echo(full.to_string(index=False))
    metrics = {
        "retrieval": {
            task: {"instances": r["instances"], "slices": r["slices"]}
            for task, r in results.items()
        }
    }
    run.metrics.parent.mkdir(parents=True, exist_ok=True)
    save_metrics(run.metrics, metrics)
    notes = [
        f"Run {cfg.name}: {len(data.catalog) - 1} items; test period from "
        f"{data.cutoffs['test_start']}; models trained on events before {data.cutoffs['val_start']}.",
        "Slices: all = every held-out instance; cold = only items first seen or launched after the "
        "training cutoff count as relevant; unseen = items the user already interacted with are "
        "removed from the ranking and from the relevant set.",
    ]
    path = write_report(run.report, f"tfrec evaluation: {cfg.name}", sections, notes)
    echo(f"[evaluate] metrics in {run.metrics}, report in {path}")
    return metrics
