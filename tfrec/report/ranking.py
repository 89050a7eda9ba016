"""The ranking evaluation page (report/ranking.html): the classification, position-effect,
end-to-end and significance tables, and the calibration plot of the CTR ranker; and, when the
run has graded judgments, the judgment rankers' NDCG@10 on held-out judged queries."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from tfrec.config import Config
from tfrec.report.page import PAGE_END, figure_png, img, page_start, pyplot


def calibration_png(curves: dict[str, pd.DataFrame]) -> str:
    """Mean predicted p(click) against the observed click rate per model, as base64 PNG.

    Args:
        curves: dict. Model name -> `calibration_bins` table (`predicted`, `observed`).

    Example:
        >>> bins = pd.DataFrame({"predicted": [0.1, 0.5], "observed": [0.2, 0.4]})
        >>> calibration_png({"ranker": bins})[:8]
        'iVBORw0K'
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    top = max(max(c["predicted"].max(), c["observed"].max()) for c in curves.values())
    ax.plot([0, top], [0, top], color="#999", linestyle="--", label="perfect")
    for name, c in curves.items():
        ax.plot(c["predicted"], c["observed"], marker="o", label=name)
    ax.set_xlabel("mean predicted p(click)")
    ax.set_ylabel("observed click rate")
    ax.set_title("Calibration, test impressions (10 quantile bins)")
    ax.grid(alpha=0.3)
    ax.legend()
    return figure_png(fig)


def _table(t: pd.DataFrame) -> str:
    return t.to_html(index=False, float_format=lambda v: f"{v:.4f}", border=0)


def judgments_section(cfg: Config, judgments: dict) -> list[str]:
    """The page's section on the rankers trained on graded judgments.

    Args:
        cfg: the run's config (`ranking.judgment_*`).
        judgments: dict. `tfrec.evaluation.judgments.evaluate_judgments`'s `tables`
            (`orders`, `significance`, `text`).

    Example:
        >>> t = pd.DataFrame({"order": ["retrieval (two-tower)"], "NDCG@10": [0.5]})
        >>> "NDCG@10" in "".join(judgments_section(Config(), {"orders": t, "text": "3 queries"}))
        True
    """
    r = cfg.ranking
    parts = [
        "<h2>Learning to rank from graded judgments, held-out judged queries</h2>",
        "<p>" + html.escape(judgments["text"]) + ".</p>",
        "<p>"
        + html.escape(
            "Listwise ranker: an MLP over the frozen towers' query and item embeddings, their "
            "product, category / brand / price embeddings and per-pair scores (retrieval logit"
            + "".join(f", {f}" for f in r.judgment_features)
            + ") standardised per list; trained with softmax cross-entropy over each training "
            "query's list (its judged items plus the unjudged items among its top "
            f"{r.judgment_candidates} retrieved, as relevance 0), gains = the judged grades. "
            f"Cross-encoder: BERT over 'query [SEP] title' (max {r.cross_encoder_max_length} "
            f"tokens, top {r.cross_encoder_trainable_layers} layers fine-tuned) on the top "
            f"{r.cross_encoder_candidates} retrieved, same loss. 95% intervals: bootstrap over "
            "queries."
        )
        + "</p>",
        _table(judgments["orders"]),
    ]
    sig = judgments.get("significance")
    if sig is not None and not sig.empty:
        parts += [
            "<h3>Differences with 95% paired-bootstrap intervals over held-out queries</h3>",
            _table(sig),
        ]
    return parts


def write_ranking_report(
    path: Path,
    cfg: Config,
    classification: pd.DataFrame | None = None,
    position_effect: pd.DataFrame | None = None,
    end_to_end: pd.DataFrame | None = None,
    searches: int = 0,
    calibration: dict[str, pd.DataFrame] | None = None,
    significance: pd.DataFrame | None = None,
    judgments: dict | None = None,
) -> Path:
    """The ranking page: the tables of `tfrec.evaluation.ranking.evaluate_ranking` and the
    calibration plot (when the run has impressions), and the judgment rankers' section (when
    it has judgments), written to `path`.

    Args:
        path: Path. The page (`RunDir.report_page("ranking")`).
        cfg: the run's config (its name and the ranker's architecture, for the text).
        classification: pd.DataFrame. Click and purchase prediction table.
        position_effect: pd.DataFrame. The position-effect table.
        end_to_end: pd.DataFrame. Retrieval then ranking (attr `recall_at_candidates`).
        searches: int. Held-out test searches of the end-to-end table (0: no section).
        calibration: dict. Model name -> `calibration_bins` table.
        significance: pd.DataFrame. Differences with their 95% intervals.
        judgments: dict or None. `evaluate_judgments`'s tables (None: no such section).

    Returns:
        `path`.

    Example:
        >>> out = evaluate_ranking(cfg, data, ranker, baseline, model, prepared)  # doctest: +SKIP
        >>> write_ranking_report(run.report_page("ranking"), cfg, **out["tables"])  # doctest: +SKIP
    """
    r = cfg.ranking
    parts = page_start(f"tfrec ranking: {cfg.name}", "body{max-width:1100px}")
    if classification is None:  # judgments only: no impressions, no CTR ranker
        parts.append("<p>The run has no logged impressions: the CTR ranker was not trained.</p>")
        parts += judgments_section(cfg, judgments) if judgments else []
        return _write(path, parts)
    parts += [
        "<p>"
        + html.escape(
            f"DCN-v2 ranker ({r.cross_layers} cross layers, projection_dim {r.projection_dim}, deep "
            f"{r.deep_layers}, {r.structure}) over the frozen retrieval towers' embeddings, their dot "
            "product, item and context features; logistic regression = the same features and heads "
            "with no cross and no deep layers. Ordering score = p_click * (1 + "
            f"{r.purchase_score_weight} * p_purchase_given_click). Position enters as an additive "
            "click logit during training and is fixed to 1 when ranking."
        )
        + "</p>",
        "<h2>Click and purchase prediction, test impressions</h2>",
        "<p>GAUC = AUC within each query (or user) that has both classes, weighted by impressions. "
        "Purchase probability = p_click * p_purchase_given_click.</p>",
        _table(classification),
        img(calibration_png(calibration), "calibration"),
        "<h2>Position effect</h2>",
        "<p>The shown items of every test search, re-ordered by each score. Scored at their logged "
        "position, the ranker reuses the engine's order through the position logit; at position 1 "
        "it orders by learnt attractiveness alone (what serving does).</p>",
        _table(position_effect),
    ]
    if searches:
        parts += [
            "<h2>End to end: retrieval then ranking, held-out test searches</h2>",
            "<p>"
            + html.escape(
                f"{searches} searches; top {r.candidates} candidates from the retrieval model "
                f"(Recall@{r.candidates} {end_to_end.attrs['recall_at_candidates']:.4f}), "
                "re-ranked."
            )
            + "</p>",
            _table(end_to_end),
        ]
    if significance is not None and not significance.empty:
        parts += [
            "<h2>The ranker against its baselines, with 95% intervals</h2>",
            "<p>Differences on the test set with 95% paired-bootstrap intervals over test "
            "searches (AUC: searches resampled as clusters). An interval above 0 is a win beyond "
            "the noise of the test sample; it does not cover the spread between training seeds."
            "</p>",
            _table(significance),
        ]
    if judgments:
        parts += judgments_section(cfg, judgments)
    return _write(path, parts)


def _write(path: Path, parts: list[str]) -> Path:
    parts.append(PAGE_END)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
