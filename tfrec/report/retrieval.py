"""The retrieval evaluation page: a table and a Recall@K plot per task (report/index.html)."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd

from tfrec.report.page import PAGE_END, figure_png, img, page_start, pyplot


def _plot_curves(curves: dict[str, list[float]], title: str) -> str:
    plt = pyplot()
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
    path: Path,
    title: str,
    sections: list[tuple[str, pd.DataFrame, dict[str, list[float]] | None]],
    notes: list[str] = (),
) -> Path:
    """A self-contained HTML page: a table and a Recall@K plot per section."""
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = page_start(title, "td:nth-child(-n+3){text-align:left}")
    parts += [f"<p>{html.escape(n)}</p>" for n in notes]
    for heading, table, curves in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if not table.empty:
            parts.append(_html_table(table))
        if curves:
            parts.append(img(_plot_curves(curves, heading), f"Recall@K, {heading}"))
    parts.append(PAGE_END)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


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
