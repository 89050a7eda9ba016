"""`tfrec bench CONFIG --only finetune`: search relevance of the fine-tuned text tower
(`text.mode: top_k_layers`, trained through the frozen-layer cache) against the frozen one, on
the same test searches, with paired bootstrap intervals.

Both models train from CONFIG (its data, text checkpoint, retrieval settings and seed; only
`text.mode` differs, and the fine-tuned run's epochs are capped) into
`runs/bench_finetune/<name>/frozen` and `.../top_k_layers` with the stages data, retrieval and
evaluate (`tfrec.bench.relevance.run_dataset`: a run whose metrics.json came from the same
config is reused and says so). Then both saved models are loaded and scored on the same test
searches of the whole catalog, next to the zero-shot encoder: Recall@100 and NDCG@10 per slice
(`all`, `cold`) and the paired differences `top_k_layers - frozen`, `top_k_layers - zero_shot`
and `frozen - zero_shot` with 95% bootstrap intervals (`tfrec.evaluation.retrieval.compare`).

Fine-tuning is expected to pay where the queries are written in other words than the titles:
`configs/hard_search.yaml` (`query_vocab_mismatch: 0.8`); reduced so that both runs fit in
about ten minutes on 2 CPU cores:

    tfrec bench configs/hard_search.yaml --only finetune \\
        --set data.synthetic.num_items=4000 --set data.synthetic.num_users=1500

Environment: `TFREC_BENCH_FINETUNE_EPOCHS` (default 3) caps the fine-tuned run's epochs (the
frozen run keeps the config's, with its early stopping: the strongest frozen baseline);
`TFREC_BENCH_FINETUNE_RETRAIN=1` reruns both; `TFREC_BENCH_FINETUNE_ROOT` replaces
`runs/bench_finetune`.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import numpy as np
import pandas as pd

from tfrec.bench.relevance import run_dataset
from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.data.prepared import PreparedData, load_prepared
from tfrec.evaluation.retrieval import compare, evaluate_scorers, metrics_table
from tfrec.evaluation.scorers import model_scorer, zero_shot_scorer
from tfrec.report.console import echo_table
from tfrec.training.retrieval import load_retrieval_model

DEFAULT_ROOT = "runs/bench_finetune"
MODES = ("frozen", "top_k_layers")
METRICS = ("recall@100", "ndcg@10")


def finetune_configs(cfg: Config, epochs: int = 3) -> dict[str, Config]:
    """The config of each mode: `cfg` with `text.mode` set, and the fine-tuned run's
    `retrieval.epochs` at most `epochs`.

    Example:
        >>> cfgs = finetune_configs(Config(), epochs=3)
        >>> cfgs["top_k_layers"].text.mode, cfgs["top_k_layers"].retrieval.epochs
        ('top_k_layers', 3)
    """
    out = {}
    for mode in MODES:
        c = copy.deepcopy(cfg)
        c.text.mode = mode
        if mode != "frozen":
            c.retrieval.epochs = min(c.retrieval.epochs, epochs)
        out[mode] = c
    return out


def _same_test_searches(a: PreparedData, b: PreparedData) -> bool:
    ta, tb = a.search_eval.get("test"), b.search_eval.get("test")
    if ta is None or tb is None or len(ta) != len(tb):
        return False
    return (
        list(a.catalog.item_ids) == list(b.catalog.item_ids)
        and list(a.queries) == list(b.queries)
        and np.array_equal(ta["query_idx"].to_numpy(), tb["query_idx"].to_numpy())
    )


def paired_search_relevance(
    configs: dict[str, Config], ks: list[int], seed: int, max_queries: int = 0
) -> dict:
    """Load each mode's saved run and score all on the same test searches (whole catalog;
    `max_queries` and `seed` pick them as the evaluate stage does).

    Returns:
        `{"instances", "table": DataFrame (slice, model, R@k, NDCG@k ...), "comparisons":
        DataFrame of paired differences with 95% bootstrap intervals}`.
    """
    data, scorers = None, {}
    for mode, c in configs.items():
        run = RunDir(c.run_path)
        mode_data = load_prepared(c, run)
        if data is None:
            data = mode_data
        elif not _same_test_searches(data, mode_data):
            raise ValueError(
                f"{run.root} holds other data than {RunDir(configs[MODES[0]].run_path).root} "
                "(catalog, queries or test searches differ): the modes cannot be paired; "
                "TFREC_BENCH_FINETUNE_RETRAIN=1 runs both again"
            )
        model = load_retrieval_model(c, run, data)
        if "zero_shot" not in scorers:
            scorers["zero_shot"] = zero_shot_scorer(
                data, model.item_text_table.numpy(), model.query_text_table.numpy()
            )
        scorers[mode] = model_scorer(data, model)
    res = evaluate_scorers(data, scorers, "search", "test", ks, max_queries, seed=seed)
    metrics = [m for m in METRICS if int(m.split("@")[1]) in ks]
    rows = []
    for model, baselines in (
        ("top_k_layers", ["frozen"]),
        ("top_k_layers", ["zero_shot"]),
        ("frozen", ["zero_shot"]),
    ):
        rows += compare(res, "search", model, baselines, metrics, seed=seed)
    table = metrics_table(res, "search", ks) if res["instances"] else pd.DataFrame()
    return {"instances": res["instances"], "table": table, "comparisons": pd.DataFrame(rows)}


def _check_reloaded(runs: dict, table: pd.DataFrame) -> None:
    """Say so when a reloaded model does not reproduce its run's evaluate figure."""
    for mode, r in runs.items():
        stage = r["retrieval"].get("search", {}).get("slices", {}).get("all", {}).get("trained")
        row = table[(table["slice"] == "all") & (table["model"] == mode)] if len(table) else table
        if stage is None or row.empty:
            continue
        again = float(row["R@100"].iloc[0])
        if abs(again - stage["recall@100"]) > 1e-3:
            echo(
                f"[bench] finetune: WARNING: {mode} reloaded scores search Recall@100 {again:.4f}, "
                f"its run's evaluate stage printed {stage['recall@100']:.4f}"
            )


def finetune_benchmark(
    cfg: Config, root: str | Path = DEFAULT_ROOT, epochs: int = 3, retrain: bool = False
) -> dict:
    """Train (or reuse) the frozen and fine-tuned runs of `cfg` and compare them, paired.

    Args:
        cfg: the dataset's config.
        root: where the runs go (`<root>/<cfg.name>/<mode>`).
        epochs: the fine-tuned run's epoch cap.
        retrain: run both again even when their metrics are reusable.

    Returns:
        `{"runs": {mode: run_dataset result}, "instances", "table": [...], "comparisons":
        [...]}` (the tables as lists of records).

    Example:
        >>> out = finetune_benchmark(load_config("configs/hard_search.yaml"))  # doctest: +SKIP
    """
    configs = finetune_configs(cfg, epochs)
    base = Path(root) / cfg.name
    runs = {mode: run_dataset(mode, c, base, retrain) for mode, c in configs.items()}
    placed = {mode: copy.deepcopy(c) for mode, c in configs.items()}
    for mode, c in placed.items():
        c.run_dir = runs[mode]["run_dir"]
    ks = sorted(set(cfg.evaluation.ks) | {10, 100})
    paired = paired_search_relevance(placed, ks, cfg.seed, cfg.evaluation.max_queries)
    _check_reloaded(runs, paired["table"])
    seconds = ", ".join(f"{m} {r['status']} in {r['seconds']:.0f} s" for m, r in runs.items())
    echo_table(
        f"[bench] finetune: {cfg.name}, test searches ({paired['instances']}), whole catalog; "
        f"runs: {seconds}",
        paired["table"],
    )
    echo_table(
        "[bench] finetune: paired differences on the same searches, 95% bootstrap intervals",
        paired["comparisons"],
    )
    return {
        "runs": runs,
        "instances": paired["instances"],
        "table": paired["table"].to_dict(orient="records"),
        "comparisons": paired["comparisons"].to_dict(orient="records"),
    }


def bench_finetune_section(cfg: Config) -> dict:
    """The `finetune` bench section on the config given to `tfrec bench` (module docstring)."""
    retrain = os.environ.get("TFREC_BENCH_FINETUNE_RETRAIN", "").strip().lower()
    return finetune_benchmark(
        cfg,
        root=os.environ.get("TFREC_BENCH_FINETUNE_ROOT", DEFAULT_ROOT),
        epochs=int(os.environ.get("TFREC_BENCH_FINETUNE_EPOCHS", "3")),
        retrain=retrain in ("1", "true", "yes", "all"),
    )
