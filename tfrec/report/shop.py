"""The shop capabilities page (report/shop.html): one table per capability, measured by
`tfrec.evaluation.shop.evaluate_shop`, and the MMR accuracy-diversity plot."""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from tfrec.report.page import PAGE_END, figure_png, img, page_start, pyplot


def plot_tradeoff(rows: list[dict], k: int) -> str:
    """NDCG@k against intra-list diversity and catalog coverage, one point per MMR lambda, as
    base64 PNG.

    Args:
        rows: the `diversity` rows of the shop metrics (`lambda`, `ndcg@k`,
            `intra_list_diversity`, `catalog_coverage`).
        k: the list length the rows were measured at.

    Example:
        >>> png = plot_tradeoff(metrics["diversity"], 10)  # doctest: +SKIP
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    ndcg = [r[f"ndcg@{k}"] for r in rows]
    for ax, key, label in (
        (axes[0], "intra_list_diversity", "intra-list diversity (1 - cos)"),
        (axes[1], "catalog_coverage", "catalog coverage"),
    ):
        x = [r[key] for r in rows]
        ax.plot(x, ndcg, marker="o")
        for r, xi, yi in zip(rows, x, ndcg):
            ax.annotate(
                f"λ={r['lambda']:g}",
                (xi, yi),
                fontsize=8,
                xytext=(3, 3),
                textcoords="offset points",
            )
        ax.set_xlabel(label)
        ax.set_ylabel(f"NDCG@{k}")
        ax.grid(alpha=0.3)
    fig.suptitle("MMR re-ranking of the home feed: accuracy against diversity")
    return figure_png(fig)


def _flatten(section: dict) -> pd.DataFrame:
    """One row per (slice, model) of a section with `slices` (feed, session)."""
    rows = []
    for sl, models in section.get("slices", {}).items():
        n = models.get("instances", models.get("positions"))
        for model, m in models.items():
            if isinstance(m, dict):
                rows.append({"slice": sl, "model": model, "n": n, **m})
    return pd.DataFrame(rows)


def shop_tables(m: dict) -> list[tuple[str, pd.DataFrame, str]]:
    """(heading, table, explanation) per capability.

    Args:
        m: the shop metrics (`evaluate_shop(...)["metrics"]`, metrics.json `shop`).

    Example:
        >>> for heading, table, note in shop_tables(metrics):  # doctest: +SKIP
        ...     print(heading, len(table))
    """
    out = []
    if m["feed"].get("slices"):
        out.append(
            (
                "Home feed (held-out users, test period)",
                _flatten(m["feed"]),
                "home_feed = the trained towers for users with a history or a known id, "
                "popularity for the others (what tfrec.shop.home_feed serves).",
            )
        )
    if m["session"].get("slices"):
        out.append(
            (
                "Session intent: next-click Recall@K on replayed held-out sessions",
                _flatten(m["session"]),
                "State before position t: no_session = history at session start only; "
                "session_in_history = the session's items appended to the history input; "
                "session_blend = plus the blend with the session items' mean embedding; "
                "+queries = plus the session's earlier searches as the query text.",
            )
        )
    cold = m["cold_start"]
    rows = []
    for task in ("feed", "search"):
        if task in cold:
            for model, v in cold[task].items():
                if isinstance(v, dict):
                    rows.append(
                        {
                            "slice": f"cold items ({task})",
                            "model": model,
                            "n": cold[task]["instances"],
                            **v,
                        }
                    )
    for key in ("feed", "session"):
        sl = m[key].get("slices", {}).get("no_history")
        if sl:
            for model, v in sl.items():
                if isinstance(v, dict):
                    rows.append(
                        {
                            "slice": f"cold users ({key})",
                            "model": model,
                            "n": sl.get("instances", sl.get("positions")),
                            **v,
                        }
                    )
    if rows:
        note = (
            f"{cold.get('cold_items', 0)} cold items (first seen or launched after the training "
            "cutoff). trained_content: cold items embedded from their text and attributes by "
            "embed_new_items (max |content - catalog| = "
            f"{cold.get('content_vs_catalog_max_abs_diff', float('nan')):.2e})."
        )
        out.append(("Cold start", pd.DataFrame(rows), note))
    sim = m["similar"]
    rows = [{"model": name, **v} for name, v in sim.items() if isinstance(v, dict)]
    out.append(
        (
            f"Similar items (top {sim['k']})",
            pd.DataFrame(rows),
            f"same_leaf_share over {sim['anchors']} random anchors; co_click_hitrate: a pair "
            f"clicked in the same held-out session found in the top {sim['k']} "
            f"({sim['co_click_anchors']} anchors).",
        )
    )
    comp = m["complementary"]
    rows = [{"model": name, **v} for name, v in comp.items() if isinstance(v, dict)]
    if rows:
        out.append(
            (
                "Complementary items: held-out co-purchase Recall@K",
                pd.DataFrame(rows),
                f"{comp['anchors']} anchor items of held-out baskets (add to cart / purchase in "
                f"one session or invoice), {comp['anchors_with_training_copurchases']} with "
                "co-purchases in training.",
            )
        )
    out.append(("Explanations (trained feed, top 10)", pd.DataFrame([m["explanations"]]), ""))
    out.append(("Diversity: MMR trade-off over lambda", pd.DataFrame(m["diversity"]), ""))
    return out


def write_shop_report(
    path: Path,
    title: str,
    tables: list[tuple[str, pd.DataFrame, str]],
    plot_png: str | None,
    notes: list[str] = (),
) -> Path:
    """A self-contained HTML page: the notes, then each table with its explanation; the
    diversity plot under the diversity table.

    Args:
        path: the page (`RunDir.report_page("shop")`).
        title: the page title.
        tables: `shop_tables(metrics)`.
        plot_png: `plot_tradeoff(...)` (base64 PNG) or None.
        notes: paragraphs under the title.

    Example:
        >>> write_shop_report(run.report_page("shop"), "shop", shop_tables(m), None)  # doctest: +SKIP
    """
    parts = page_start(title)
    parts += [f"<p>{html.escape(n)}</p>" for n in notes]
    for heading, table, note in tables:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if note:
            parts.append(f"<p>{html.escape(note)}</p>")
        parts.append(table.to_html(index=False, float_format=lambda v: f"{v:.4f}", na_rep="-"))
        if heading.startswith("Diversity") and plot_png:
            parts.append(img(plot_png, "NDCG against diversity"))
    parts.append(PAGE_END)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
