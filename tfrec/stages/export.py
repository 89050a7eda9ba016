"""The `export` stage (`tfrec export CONFIG`): the run's trained retrieval model over its index
(built when the run has none yet) as the `tfrec` and `tfrec_scann` TF Serving models, and its
trained ranker as `tfrec_ranker` when it has one; `export/models.config` lists them all. Items
added while serving (the live-item journal) are folded into the index first
(`tfrec.stages.item_journal`), so the new version holds them."""

from __future__ import annotations

from pathlib import Path

from tfrec.core.log import echo
from tfrec.export.ranker import export_ranker, ranker_model_name
from tfrec.export.retrieval import export_model
from tfrec.export.versions import models_config
from tfrec.index.for_run import index_for_run
from tfrec.stages.artifacts import RunArtifacts
from tfrec.stages.item_journal import fold_item_journal


def run_export(art: RunArtifacts) -> dict[str, Path]:
    """Export the run's models (see the module doc); returns model name -> version path.

    Args:
        art: the run's artifacts (config, run directory, prepared data, retrieval model).

    Example:
        >>> run_export(RunArtifacts(cfg, RunDir(cfg.run_path)))  # doctest: +SKIP
        {'tfrec': PosixPath('runs/quickstart/export/tfrec/1'), 'tfrec_scann': ..., ...}
    """
    cfg, run = art.cfg, art.run
    data, model = art.data(), art.retrieval_model()
    fold_item_journal(art)
    index = index_for_run(cfg, run, data, model)
    out = export_model(cfg, run, model, data, index)
    ranker = export_ranker(cfg, run, model, data, index)
    if ranker is not None:
        name = ranker_model_name(cfg)
        out[name] = ranker
        run.models_config.write_text(models_config(run, [*(n for n in out if n != name), name]))
        echo(f"[export] TF Serving model config with {name}: {run.models_config}")
    return out
