"""The `shop` stage."""

from __future__ import annotations

from tfrec.evaluation.shop import evaluate_shop
from tfrec.stages.artifacts import RunArtifacts


def run_shop(art: RunArtifacts):
    return evaluate_shop(art.cfg, art.run, art.data(), art.retrieval_model())
