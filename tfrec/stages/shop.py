"""The `shop` stage: every shop capability measured on the test period
(`tfrec.evaluation.shop`); metrics.json (`shop`) and report/shop.html."""

from __future__ import annotations

import pandas as pd

from tfrec.core.log import echo
from tfrec.evaluation.shop import evaluate_shop
from tfrec.report.shop import plot_tradeoff, shop_tables, write_shop_report
from tfrec.stages.artifacts import RunArtifacts


def run_shop(art: RunArtifacts) -> dict:
    """Evaluate the shop capabilities, print their tables, write metrics.json and
    report/shop.html.

    Args:
        art: the run's artifacts (its prepared data and trained retrieval model).

    Returns:
        The `shop` metrics.

    Example:
        >>> run_shop(RunArtifacts(cfg, RunDir(cfg.run_path)))  # doctest: +SKIP
    """
    cfg, run = art.cfg, art.run
    out = evaluate_shop(cfg, art.data(), art.retrieval_model())
    m = out["metrics"]
    run.save_metrics({"shop": m})
    tables = shop_tables(m)
    with pd.option_context(
        "display.width", 220, "display.max_columns", 30, "display.float_format", "{:.4f}".format
    ):
        for heading, table, _ in tables:
            echo(f"[shop] {heading}")
            echo(table.to_string(index=False))
    png = plot_tradeoff(m["diversity"], 10) if m["diversity"] else None
    path = write_shop_report(
        run.report_page("shop"), f"tfrec shop capabilities: {cfg.name}", tables, png, out["notes"]
    )
    echo(f"[shop] metrics in {run.metrics} (shop), report in {path} ({m['seconds']} s)")
    return m
