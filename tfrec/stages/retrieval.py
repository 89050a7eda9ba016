"""The `retrieval` stage: train (or resume) the two-tower model with full-catalog validation
recall driving early stopping and best checkpoints, then set its cold boost
(`tfrec.evaluation.cold_boost`)."""

from __future__ import annotations

import json

from tfrec.core.log import echo
from tfrec.evaluation.cold_boost import ColdBoostChooser
from tfrec.evaluation.validation import ValidationRecall
from tfrec.models.retrieval import RetrievalModel
from tfrec.stages.artifacts import RunArtifacts
from tfrec.training.retrieval import save_retrieval_model, train_retrieval


def run_retrieval(art: RunArtifacts) -> RetrievalModel:
    """Train the run's retrieval model; the stages that follow use it."""
    data = art.data()
    validation = ValidationRecall(data, k=100)
    cold_boost = ColdBoostChooser(data, fixed=art.cfg.retrieval.cold_boost)
    model = train_retrieval(
        art.cfg,
        art.run,
        data,
        validation=[validation],
        after_best=[validation.guard(), cold_boost],
    )
    art.set_retrieval_model(model)
    return model


def rechoose_cold_boost(art: RunArtifacts) -> RetrievalModel:
    """Choose (or set, with `retrieval.cold_boost`) the cold boost of the run's trained
    retrieval model again, without training: the weights and item embeddings are saved with
    it. Later stages (evaluate, ranking, index, export) must run again to see it."""
    model = art.retrieval_model()
    if model.item_id_rows is None:
        raise ValueError("the run's retrieval model has no item id embeddings, so no cold boost")
    chooser = ColdBoostChooser(art.data(), fixed=art.cfg.retrieval.cold_boost)
    chooser.set_model(model)
    chooser.on_train_end()
    save_retrieval_model(model, art.run)
    summary_path = art.run.retrieval_training_summary
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    summary["cold_boost"] = chooser.chosen
    summary_path.write_text(json.dumps(summary, indent=2))
    echo(
        f"[retrieval] cold boost {chooser.chosen:g} saved in {art.run.retrieval_weights}; run "
        "the stages after retrieval again (evaluate, ranking, index, export) to use it"
    )
    return model
