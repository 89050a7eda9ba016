"""The `ranking` stage (`tfrec train ranking CONFIG`): train the ranker and its
logistic-regression baseline on the frozen retrieval model's features, evaluate both on the
test split, write metrics.json (`ranking`) and report/ranking.html, and save the models with
the `retrieval_weight` the evaluation chose."""

from __future__ import annotations

import tensorflow as tf

from tfrec.core.log import echo
from tfrec.data.prepared import read_clean_table
from tfrec.evaluation.ranking import evaluate_ranking, judgment_lookup
from tfrec.models.ranking import RankingModel
from tfrec.report.ranking import write_ranking_report
from tfrec.stages.artifacts import RunArtifacts
from tfrec.training.ranking import read_ranking_tables, train_ranking
from tfrec.training.ranking_io import save_ranking_model
from tfrec.training.retrieval import load_retrieval_model


def run_ranking(art: RunArtifacts) -> RankingModel:
    """Train, evaluate, report; returns the trained ranker."""
    cfg, run = art.cfg, art.run
    data = art.data()
    # Seed, then restore a copy of the retrieval model of its own rather than `art`'s: building
    # the model draws from the seeded generators, so the ranker's initial weights (and every
    # figure after) depend on that order; with a copy, they are the same whether or not an
    # earlier stage of this run loaded the model (as `tfrec train ranking` has always done).
    tf.keras.utils.set_random_seed(cfg.training.seed)
    retrieval_model = load_retrieval_model(cfg, run, data)
    trained = train_ranking(cfg, run, data, retrieval_model, *read_ranking_tables(run))
    judged = judgment_lookup(read_clean_table(run, "judgments"))
    out = evaluate_ranking(
        cfg, data, trained.ranker, trained.baseline, retrieval_model, trained.prepared, judged
    )
    run.save_metrics(out["metrics"])
    path = write_ranking_report(run.report_page("ranking"), cfg, **out["tables"])
    echo(f"[ranking] metrics in {run.metrics}, report in {path}")
    # the evaluation chose each model's `retrieval_weight` on the validation searches
    extras = trained.prepared["extras"]
    save_ranking_model(trained.ranker, run.ranker, extras)
    save_ranking_model(trained.baseline, run.ranking_baseline, extras)
    return trained.ranker
