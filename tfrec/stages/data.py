"""The `data` stage: generate (synthetic) or read the shop, validate it, write the clean tables,
split, and report."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pandas as pd

from tfrec.core.log import echo
from tfrec.core.rundir import TABLES
from tfrec.data.prepared import funnel_lines, load_prepared
from tfrec.data.sources import load_shop
from tfrec.data.synthetic.writer import generate_shop
from tfrec.stages.artifacts import RunArtifacts


def run_data(art: RunArtifacts) -> dict:
    """Write `data/clean/*.parquet` and `data/report.json`; print rows per table, dropped
    counts and split sizes. The prepared data is handed to the stages that follow."""
    cfg, run = art.cfg, art.run
    t0 = time.time()
    synthetic_dir = None
    if cfg.data.source == "synthetic":
        echo(f"[data] generating the synthetic shop into {run.raw}")
        generate_shop(cfg.data.synthetic, run.raw)
        synthetic_dir = run.raw
    # relative data paths resolve against the directory tfrec runs in (the project root)
    shop = load_shop(cfg.data, base_dir=Path.cwd(), synthetic_dir=synthetic_dir)
    run.clean.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        frame = getattr(shop, name)
        if frame is not None:
            frame.to_parquet(run.clean_table(name), index=False)
    data = load_prepared(cfg, run)
    art.set_data(data)
    report = {
        "validation": shop.report.to_dict(),
        "split": data.summary(),
        "seconds": round(time.time() - t0, 1),
    }
    run.data_report.parent.mkdir(parents=True, exist_ok=True)
    run.data_report.write_text(json.dumps(report, indent=2, default=str))

    echo("[data] " + "\n[data] ".join(shop.report.summary_lines()))
    s = report["split"]
    echo(
        f"[data] catalog {s['items']} items, {s['users_in_training']} users in training, "
        f"{s['distinct_queries']} distinct queries"
    )
    echo(
        f"[data] cutoffs: val from {s['cutoffs']['val_start']}, test from {s['cutoffs']['test_start']}"
    )
    rows = [{"split": split, **s[f"{split}_examples"]} for split in ("train", "val", "test")]
    echo("[data] " + pd.DataFrame(rows).to_string(index=False).replace("\n", "\n[data] "))
    for line in funnel_lines(data.funnel):
        echo(f"[data] {line}")
    echo(f"[data] clean tables in {run.clean}, report in {run.data_report} ({report['seconds']} s)")
    return report
