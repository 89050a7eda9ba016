"""The `retrieval` stage: train (or resume) the two-tower model with full-catalog validation
recall driving early stopping and best checkpoints."""

from __future__ import annotations

from tfrec.evaluation.validation import ValidationRecall
from tfrec.models.retrieval import RetrievalModel
from tfrec.stages.artifacts import RunArtifacts
from tfrec.training.retrieval import train_retrieval


def run_retrieval(art: RunArtifacts) -> RetrievalModel:
    """Train the run's retrieval model; the stages that follow use it."""
    data = art.data()
    validation = ValidationRecall(data, k=100)
    model = train_retrieval(
        art.cfg, art.run, data, validation=[validation], after_best=[validation.guard()]
    )
    art.set_retrieval_model(model)
    return model
