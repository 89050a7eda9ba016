"""The stages of `tfrec run`, one file each (load -> call the library -> write), and the
registry that runs them in order over one run directory.

Every stage is a function of one `RunArtifacts`: the run's config and directory, and the data
and model that earlier stages of the same run produced (loaded from the run directory when the
stage runs alone, e.g. `tfrec run CONFIG --stages evaluate`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

from tfrec.config import STAGE_NAMES, Config, ConfigError, save_config
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.core.runlock import RunLock
from tfrec.report.links import link_report_pages
from tfrec.stages.artifacts import RunArtifacts
from tfrec.stages.data import run_data
from tfrec.stages.evaluate import run_evaluate
from tfrec.stages.export import run_export
from tfrec.stages.index import run_index
from tfrec.stages.ranking import run_ranking
from tfrec.stages.retrieval import run_retrieval
from tfrec.stages.shop import run_shop
from tfrec.stages.tune import run_tune

# stage name -> function(artifacts), in the order of `STAGE_NAMES` (the names the config accepts)
STAGES: dict[str, Callable[[RunArtifacts], object]] = {
    "data": run_data,
    "retrieval": run_retrieval,
    "ranking": run_ranking,
    "tune": run_tune,
    "evaluate": run_evaluate,
    "shop": run_shop,
    "export": run_export,
    "index": run_index,
}
if tuple(STAGES) != STAGE_NAMES:  # one list of names: the config's
    raise ImportError(f"stage registry {tuple(STAGES)} differs from STAGE_NAMES {STAGE_NAMES}")


def run_stages(cfg: Config, stages: list[str] | None = None) -> None:
    """Run the configured stages (or `stages`) in order, writing into the run directory,
    holding its writer lock (`RunDir.writer_lock`; `RunLockedError` names the holder).

    Args:
        cfg: the run's config (`stages`, `run_dir`).
        stages: stage names to run instead of `cfg.stages`.

    Example:
        >>> run_stages(load_config("configs/quickstart.yaml"), ["data"])  # doctest: +SKIP
    """
    run = RunDir(cfg.run_path)
    stages = [s.strip() for s in stages] if stages else list(cfg.stages)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ConfigError(
            f"unknown stage(s) {', '.join(map(repr, unknown))}; the stages are {', '.join(STAGES)}"
        )
    run.root.mkdir(parents=True, exist_ok=True)
    # one writer per run directory: a second `tfrec run` / `train` / `export` on it is refused
    # a distributed Keras Tuner search: the chief holds the lock; its workers
    # (KERASTUNER_TUNER_ID other than "chief") write their own trials under it
    tuner_worker = stages == ["tune"] and os.environ.get("KERASTUNER_TUNER_ID", "chief") != "chief"
    with contextlib.nullcontext() if tuner_worker else RunLock(run.writer_lock):
        save_config(cfg, run.config)
        art = RunArtifacts(cfg, run)
        echo(f"tfrec run {cfg.name}: stages {', '.join(stages)} -> {run.root}")
        for stage in stages:
            t0 = time.time()
            STAGES[stage](art)
            echo(f"[{stage}] done in {time.time() - t0:.1f} s")
        if run.report.exists():
            pages = link_report_pages(run.report)
            if pages:
                echo(f"report: {pages[0]} ({', '.join(p.name for p in pages)})")
        if run.export.is_dir():  # the last line: how to try what was exported
            host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(cfg.serving.host, cfg.serving.host)
            echo(f"try it: tfrec serve {run.root}, then open http://{host}:{cfg.serving.port}/ui/")
