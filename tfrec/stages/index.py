"""The `index` stage."""

from __future__ import annotations

from tfrec.core.log import echo
from tfrec.index.scann_index import build_index_for_run
from tfrec.stages.artifacts import RunArtifacts


def run_index(art: RunArtifacts):
    return build_index_for_run(art.cfg, art.run, art.data(), art.retrieval_model(), echo=echo)
