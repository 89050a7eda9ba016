"""The `tune` stage."""

from __future__ import annotations

from tfrec.stages.artifacts import RunArtifacts
from tfrec.tuning import run_tuning


def run_tune(art: RunArtifacts):
    return run_tuning(art.cfg, art.run, art.data())
