"""The `retrieval` stage: train (or resume) the two-tower model with full-catalog validation
recall driving early stopping and best checkpoints, then set its cold boost
(`tfrec.evaluation.cold_boost`)."""

from __future__ import annotations

from tfrec.evaluation.cold_boost import ColdBoostChooser
from tfrec.evaluation.validation import ValidationRecall
from tfrec.models.retrieval import RetrievalModel
from tfrec.stages.artifacts import RunArtifacts
from tfrec.training.retrieval import train_retrieval


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
