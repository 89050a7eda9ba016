"""The `ranking` stage."""

from __future__ import annotations

from tfrec.stages.artifacts import RunArtifacts
from tfrec.training.ranking import train_ranking


def run_ranking(art: RunArtifacts):
    return train_ranking(art.cfg, art.run, art.data())
