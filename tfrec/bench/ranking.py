"""`tfrec bench CONFIG --only ranking`: the ranker's serving throughput next to the
logistic-regression baseline's, measured in the same run."""

from __future__ import annotations

import pandas as pd

from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.models.ranking import (
    RankingModel,
    logistic_regression_config,
    random_candidates,
    ranking_throughput,
)
from tfrec.training.ranking_io import architecture_config, load_ranking_model


def ranking_benchmark(cfg: Config, run: RunDir, sizes: tuple[int, ...] = (100, 500, 1000)) -> dict:
    """Candidates scored per second by the ranker and by the logistic-regression baseline (same
    features, same serving path), per request size, and their ratio, measured in one run.

    Uses the run's trained models when `tfrec train ranking` has saved them; otherwise models
    of the configured architecture with fresh weights (throughput does not depend on weights).

    Args:
        cfg: the run's config (`ranking` architecture, `retrieval` sizes).
        run: RunDir. Where the trained models may be (`run.ranker`, `run.ranking_baseline`).
        sizes: candidates per request to measure.

    Returns:
        dict with `source` (which models were measured) and `rows` (one per size).

    Example:
        >>> ranking_benchmark(cfg, RunDir(cfg.run_path), sizes=(100,))["rows"][0]["ranker / LR"]  # doctest: +SKIP
        0.42
    """
    out_dir = run.ranking
    if (run.ranker / "model.json").exists() and (run.ranking_baseline / "model.json").exists():
        ranker, _ = load_ranking_model(run.ranker)
        baseline, _ = load_ranking_model(run.ranking_baseline)
        source = f"trained models in {out_dir}"
    else:
        config = {
            "category_vocab_sizes": [11, 24, 56],
            "brand_vocab_size": 120,
            "num_price_buckets": cfg.retrieval.price_buckets + 2,
            "num_items": 2001,
            **architecture_config(cfg.ranking),
        }
        ranker = RankingModel.from_config(config)
        baseline = RankingModel.from_config(logistic_regression_config(ranker.get_config()))
        for m in (ranker, baseline):
            m(random_candidates(m, 2, cfg.retrieval.embedding_dim))
        source = f"untrained models of the configured architecture ({out_dir} has none)"
    echo(f"[bench] ranking throughput, serving path (position fixed), {source}")
    rows = []
    for n in sizes:
        lr = ranking_throughput(baseline, n)
        dcn = ranking_throughput(ranker, n)
        rows.append(
            {
                "candidates per request": n,
                "ranker candidates/s": dcn,
                "logistic regression candidates/s": lr,
                "ranker / LR": dcn / lr,
            }
        )
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.float_format", "{:,.2f}".format):
        echo(table.to_string(index=False))
    return {"source": source, "rows": table.to_dict(orient="records")}
