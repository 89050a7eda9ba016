"""The stages of `tfrec run` and the run directory they share.

    runs/<name>/config.yaml          the config the run used
                data/raw/            the synthetic shop as generated (source: synthetic)
                data/clean/          the validated contract tables (parquet)
                data/report.json     rows read, dropped per rule, cleaning counts, split sizes
                retrieval/           checkpoints, backup (resume), TensorBoard logs, final weights
                metrics.json         evaluation figures
                report/index.html    the readable report

Each stage reads what earlier stages wrote, so `tfrec train retrieval` after `tfrec run --stages
data` works, and a killed stage restarts from its own backup.
"""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tfrec.config import Config, ConfigError, save_config


@dataclass
class RunDir:
    """Paths inside one run directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def clean(self) -> Path:
        return self.root / "data" / "clean"

    @property
    def data_report(self) -> Path:
        return self.root / "data" / "report.json"

    @property
    def retrieval(self) -> Path:
        return self.root / "retrieval"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def report(self) -> Path:
        return self.root / "report"


def echo(msg: str = "") -> None:
    print(msg, flush=True)


def stage_data(cfg: Config, run: RunDir) -> dict:
    """Generate (synthetic) or read the shop, validate it, write the clean tables, split."""
    from tfrec.data.readers import load_shop

    t0 = time.time()
    synthetic_dir = None
    if cfg.data.source == "synthetic":
        from tfrec.data.synthetic import generate_shop

        echo(f"[data] generating the synthetic shop into {run.raw}")
        generate_shop(cfg.data.synthetic, run.raw)
        synthetic_dir = run.raw
    # relative data paths resolve against the directory tfrec runs in (the project root)
    shop = load_shop(cfg.data, base_dir=Path.cwd(), synthetic_dir=synthetic_dir)
    run.clean.mkdir(parents=True, exist_ok=True)
    for name in ("items", "events", "judgments", "users"):
        frame = getattr(shop, name)
        if frame is not None:
            frame.to_parquet(run.clean / f"{name}.parquet", index=False)
    # prepared from the tables just written, and memoised for the stages that follow
    data = load_prepared(cfg, run)
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
    rows = []
    for split in ("train", "val", "test"):
        e = s[f"{split}_examples"]
        rows.append({"split": split, **e})
    echo("[data] " + pd.DataFrame(rows).to_string(index=False).replace("\n", "\n[data] "))
    echo(f"[data] clean tables in {run.clean}, report in {run.data_report} ({report['seconds']} s)")
    return report


def load_prepared(cfg: Config, run: RunDir):
    """The prepared data of a run, rebuilt from its clean tables (fast, deterministic)."""
    from tfrec.data.datasets import prepare_data

    items_path = run.clean / "items.parquet"
    if not items_path.exists():
        raise FileNotFoundError(
            f"{items_path} does not exist: run the data stage first (`tfrec run CONFIG --stages data`)"
        )
    events_path = run.clean / "events.parquet"
    key = (
        str(run.root.resolve()),
        items_path.stat().st_mtime_ns,
        events_path.stat().st_mtime_ns,
        repr(cfg.data.split),
        cfg.retrieval.price_buckets,
        repr(cfg.data.item_features),
    )
    # stages of one `tfrec run` share the prepared data instead of rebuilding it each time
    if _PREPARED_MEMO.get("key") != key:
        items = pd.read_parquet(items_path)
        events = pd.read_parquet(events_path)
        _PREPARED_MEMO.clear()
        _PREPARED_MEMO.update(
            key=key,
            data=prepare_data(
                items, events, cfg.data.split, cfg.retrieval.price_buckets, cfg.data.item_features
            ),
        )
    return _PREPARED_MEMO["data"]


_PREPARED_MEMO: dict = {}


def _stage_index(cfg: Config, run: RunDir) -> None:
    from tfrec.index import build_index_for_run

    build_index_for_run(cfg, run, echo=echo)


# stage name -> (module, function(cfg, run)); the names are those `Config.stages` accepts
STAGES: dict[str, tuple[str, str]] = {
    "data": ("tfrec.pipeline", "stage_data"),
    "retrieval": ("tfrec.retrieval_training", "train_retrieval"),
    "ranking": ("tfrec.ranking_training", "train_ranking"),
    "tune": ("tfrec.tuning", "run_tuning"),
    "evaluate": ("tfrec.evaluation", "evaluate_run"),
    "shop": ("tfrec.shop_evaluation", "evaluate_shop"),
    "export": ("tfrec.export", "export_run"),
    "index": ("tfrec.pipeline", "_stage_index"),
}


def run_stages(cfg: Config, stages: list[str] | None = None) -> None:
    """Run the configured stages in order, writing into the run directory."""
    run = RunDir(cfg.run_path)
    run.root.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run.config)
    stages = [s.strip() for s in stages] if stages else list(cfg.stages)
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ConfigError(
            f"unknown stage(s) {', '.join(map(repr, unknown))}; the stages are {', '.join(STAGES)}"
        )
    echo(f"tfrec run {cfg.name}: stages {', '.join(stages)} -> {run.root}")
    for stage in stages:
        t0 = time.time()
        module, function = STAGES[stage]
        # imported when run: a stage's dependencies (BERT, ScaNN, Keras Tuner) load only if used
        getattr(importlib.import_module(module), function)(cfg, run)
        echo(f"[{stage}] done in {time.time() - t0:.1f} s")
    if run.report.exists():
        from tfrec.evaluation import link_report_pages

        pages = link_report_pages(run.report)
        if pages:
            echo(f"report: {pages[0]} ({', '.join(p.name for p in pages)})")
