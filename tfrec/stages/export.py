"""The `export` stage."""

from __future__ import annotations

from tfrec.export.retrieval import export_run
from tfrec.stages.artifacts import RunArtifacts


def run_export(art: RunArtifacts):
    return export_run(art.cfg, art.run)
