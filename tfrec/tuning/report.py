"""Search outputs: the trials table, the objective-by-trial plot and `report/tuning.html`."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import pandas as pd

from tfrec.report.page import PAGE_END, img, page_start
from tfrec.tuning.space import format_value


def short_names(keys: list[str]) -> dict[str, str]:
    """`retrieval.temperature` -> `temperature` where the last part is unique."""
    last = [k.split(".")[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def trials_frame(rows: list[dict[str, Any]], keys: list[str]) -> pd.DataFrame:
    """One row per trial: trial, status, objective, seconds, tuner, the values, the reason.

    Each row dict has `trial`, `status`, `objective`, `seconds`, `tuner`, `reason` and
    `values` (config key -> value)."""
    names = short_names(keys)
    out = []
    for r in rows:
        row = {
            "trial": r["trial"],
            "status": r["status"],
            "objective": r["objective"],
            "seconds": r["seconds"],
            "tuner": r["tuner"],
        }
        for k in keys:
            row[names[k]] = format_value(r["values"][k]) if k in r["values"] else ""
        row["reason"] = r["reason"] or ""
        out.append(row)
    return pd.DataFrame(out)


def objective_plot(
    frame: pd.DataFrame, objective: str, direction: str, default: float | None, path: Path
) -> Path:
    """Objective per trial (completed trials as points, failed ones as crosses at the bottom),
    the best so far, and the default config's value as a dashed line; written as PNG."""
    import matplotlib  # deferred: matplotlib is heavy and only the tuning report plots

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # deferred: after the Agg backend is chosen

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    order = list(range(len(frame)))
    done = frame["status"] == "COMPLETED"
    values = pd.to_numeric(frame["objective"], errors="coerce")
    ax.plot(
        [i for i, d in zip(order, done) if d], values[done], "o", color="#1f77b4", label="trial"
    )
    best = values.where(done).cummax() if direction == "max" else values.where(done).cummin()
    ax.step(order, best, where="post", color="#2ca02c", label="best so far")
    if (~done).any():
        low = values[done].min() if done.any() else 0.0
        ax.plot(
            [i for i, d in zip(order, done) if not d],
            [low] * int((~done).sum()),
            "x",
            color="#d62728",
            label="failed",
        )
    if default is not None:
        ax.axhline(default, ls="--", color="#7f7f7f", label="default config")
    ax.set_xticks(order)
    ax.set_xticklabels(frame["trial"].astype(str), rotation=90 if len(order) > 20 else 0)
    ax.set_xlabel("trial")
    ax.set_ylabel(objective)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _table_html(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, r in frame.iterrows():
        cells = []
        for c in frame.columns:
            v = r[c]
            text = f"{v:.4f}" if isinstance(v, float) and c == "objective" else format_value(v)
            cells.append(f"<td>{html.escape('' if text == 'nan' else text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def write_tuning_html(
    path: Path,
    title: str,
    notes: list[str],
    comparison: pd.DataFrame,
    trials: pd.DataFrame,
    png: Path,
) -> Path:
    """A self-contained page: notes, default versus best, the plot and the trials table."""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    parts = [
        *page_start(title, "table{font-size:90%}"),
        *[f"<p>{html.escape(n)}</p>" for n in notes],
        "<h2>Default config versus best trial</h2>",
        _table_html(comparison),
        "<h2>Objective by trial</h2>",
        img(data, "objective by trial"),
        "<h2>Trials</h2>",
        _table_html(trials),
        PAGE_END,
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
