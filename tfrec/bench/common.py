"""What the bench sections share: the data they run on and the process's peak memory."""

from __future__ import annotations

import copy
import resource
import tempfile
from pathlib import Path

from tfrec.config import Config
from tfrec.core.rundir import RunDir
from tfrec.data.prepared import PreparedData, load_prepared
from tfrec.stages.artifacts import RunArtifacts
from tfrec.stages.data import run_data


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_data(cfg: Config) -> PreparedData:
    """The prepared data of the config's run, or of a small synthetic shop made for the bench."""
    run = RunDir(cfg.run_path)
    if run.clean_table("items").exists():
        return load_prepared(cfg, run)
    tmp = Path(tempfile.mkdtemp(prefix="tfrec-bench-"))
    small = copy.deepcopy(cfg)
    small.data.source = "synthetic"
    small.data.synthetic.num_items = 1000
    small.data.synthetic.num_users = 800
    small.run_dir = str(tmp / "run")
    art = RunArtifacts(small, RunDir(small.run_path))
    run_data(art)
    return art.data()
