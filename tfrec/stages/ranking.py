"""The `ranking` stage (`tfrec train ranking CONFIG`): train the ranker and its
logistic-regression baseline on the frozen retrieval model's features, evaluate both on the
test split, write metrics.json (`ranking`) and report/ranking.html, and save the models with
the `retrieval_weight` the evaluation chose.

When the run has graded judgments (`ranking.judgments`: auto / on), it also trains the
judgment rankers (`tfrec.training.judgments`: listwise and / or cross-encoder) and evaluates
them on held-out judged queries (metrics.json `ranking.judgments`, a section of the same page);
a run with judgments and no impressions trains only those."""

from __future__ import annotations

import tensorflow as tf

from tfrec.core.log import echo
from tfrec.data.prepared import read_clean_table
from tfrec.evaluation.judgments import evaluate_judgments, judgment_pair_scorers
from tfrec.evaluation.ranking import evaluate_ranking, judgment_lookup
from tfrec.models.ranking import RankingModel
from tfrec.report.ranking import write_ranking_report
from tfrec.stages.artifacts import RunArtifacts
from tfrec.training.judgments import train_judgment_rankers
from tfrec.training.ranking import read_ranking_tables, train_ranking
from tfrec.training.ranking_io import save_ranking_model
from tfrec.training.retrieval import load_retrieval_model


def _judgments(art: RunArtifacts):
    """The clean judgments table when `ranking.judgments` asks for it (None: not used)."""
    mode = art.cfg.ranking.judgments
    table = None if mode == "off" else read_clean_table(art.run, "judgments")
    if mode == "on" and (table is None or table.empty):
        raise ValueError(
            "ranking.judgments is `on` but the run has no judgments (data.judgments: a table "
            "of query, item_id, relevance; the data stage writes data/clean/judgments.parquet)"
        )
    return None if table is None or table.empty else table


def run_ranking(art: RunArtifacts) -> RankingModel | None:
    """Train, evaluate, report; returns the trained CTR ranker (None when the run has no
    impressions and only the judgment rankers were trained)."""
    cfg, run = art.cfg, art.run
    data = art.data()
    judgments = _judgments(art)
    impressions = not data.impressions.empty
    if not impressions and judgments is None:
        raise ValueError(
            "the ranking stage needs logged impressions (events with event=impression, a query "
            "and a position) for the CTR ranker, or graded judgments (data.judgments) for the "
            "judgment ranker; this run has neither"
        )
    # Seed, then restore a copy of the retrieval model of its own rather than `art`'s: building
    # the model draws from the seeded generators, so the ranker's initial weights (and every
    # figure after) depend on that order; with a copy, they are the same whether or not an
    # earlier stage of this run loaded the model (as `tfrec train ranking` has always done).
    tf.keras.utils.set_random_seed(cfg.training.seed)
    retrieval_model = load_retrieval_model(cfg, run, data)
    metrics: dict = {"ranking": {}}
    tables: dict = {}
    ranker = None
    if impressions:
        trained = train_ranking(cfg, run, data, retrieval_model, *read_ranking_tables(run))
        out = evaluate_ranking(
            cfg,
            data,
            trained.ranker,
            trained.baseline,
            retrieval_model,
            trained.prepared,
            judgment_lookup(read_clean_table(run, "judgments")),
        )
        metrics, tables = out["metrics"], out["tables"]
        ranker = trained.ranker
        # the evaluation chose each model's `retrieval_weight` on the validation searches
        extras = trained.prepared["extras"]
        save_ranking_model(trained.ranker, run.ranker, extras)
        save_ranking_model(trained.baseline, run.ranking_baseline, extras)
    else:
        echo("[ranking] no impressions: only the judgment ranker is trained")
    if judgments is not None:
        scorers = judgment_pair_scorers(
            cfg, data, {*cfg.ranking.judgment_features, "bm25", "zero_shot"}
        )
        features = {k: v for k, v in scorers.items() if k in cfg.ranking.judgment_features}
        judged = train_judgment_rankers(cfg, run, data, retrieval_model, judgments, features)
        out = evaluate_judgments(cfg, data, judged, scorers)
        metrics["ranking"]["judgments"] = out["metrics"]
        tables["judgments"] = out["tables"]
    run.save_metrics(metrics)
    path = write_ranking_report(run.report_page("ranking"), cfg, **tables)
    echo(f"[ranking] metrics in {run.metrics}, report in {path}")
    return ranker
