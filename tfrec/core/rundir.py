"""The run directory: every path a run reads or writes, in one place.

    runs/<name>/config.yaml              the config the run used
                data/raw/                the synthetic shop as generated (source: synthetic)
                data/clean/<table>.parquet   the validated contract tables
                data/report.json         rows read, dropped per rule, cleaning counts, split sizes
                retrieval/               checkpoints, backup (resume), TensorBoard logs,
                                         model/weights, item_embeddings.npy, training.json
                ranking/                 model/ and baseline/ (model.json + weights), checkpoints,
                                         backup, logs, training.json; judgments/listwise/ and
                                         judgments/cross_encoder/ (rankers of graded judgments)
                tuning/                  Keras Tuner trials, best_config.yaml, trials table
                index/                   the item index (scann/, savedmodel/, params.json,
                                         added_items.parquet)
                export/<model>/<version>/    TF Serving SavedModels; export/models.config
                live_items.jsonl         items added while serving (POST /v1/items), an
                                         append-only journal, fsync'ed before each 200
                live_items.lock          held by the `tfrec serve` that writes the journal
                run.lock                 held by the one writer (`tfrec run`, `train`,
                                         `export`, `index build|add`, `tune`, `evaluate`)
                metrics.json             evaluation figures (each stage adds its section)
                bench.json               `tfrec bench` results
                report/<page>.html       the readable report

Each stage reads what earlier stages wrote, so `tfrec train retrieval` after `tfrec run --stages
data` works, and a killed stage restarts from its own backup.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

TABLES = ("items", "events", "judgments", "users")


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory. Nothing else in tfrec joins path parts under a run.

    Args:
        root: the run directory (`runs/<name>`, or `run_dir` of the config).

    Example:
        >>> run = RunDir(Path("runs/quickstart"))
        >>> run.clean_table("items").as_posix()
        'runs/quickstart/data/clean/items.parquet'
    """

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    # --- config and data -------------------------------------------------------------------
    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def raw(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def clean(self) -> Path:
        return self.root / "data" / "clean"

    def clean_table(self, name: str) -> Path:
        """`data/clean/<name>.parquet` for one of `TABLES`."""
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r}; the tables are {', '.join(TABLES)}")
        return self.clean / f"{name}.parquet"

    @property
    def data_report(self) -> Path:
        return self.root / "data" / "report.json"

    # --- retrieval -------------------------------------------------------------------------
    @property
    def retrieval(self) -> Path:
        return self.root / "retrieval"

    @property
    def retrieval_weights(self) -> Path:
        """TF checkpoint prefix of the trained retrieval model (`<prefix>.index` exists)."""
        return self.retrieval / "model" / "weights"

    @property
    def retrieval_training_summary(self) -> Path:
        """Epochs run, best validation figure, the history (`retrieval/training.json`)."""
        return self.retrieval / "training.json"

    @property
    def item_embeddings(self) -> Path:
        return self.retrieval / "item_embeddings.npy"

    # --- ranking ---------------------------------------------------------------------------
    @property
    def ranking(self) -> Path:
        return self.root / "ranking"

    @property
    def ranker(self) -> Path:
        """The trained ranker (`model.json` + weights)."""
        return self.ranking / "model"

    @property
    def ranking_baseline(self) -> Path:
        return self.ranking / "baseline"

    @property
    def ranking_baseline_training(self) -> Path:
        return self.ranking / "baseline_training"

    @property
    def ranking_training_summary(self) -> Path:
        """Epochs run, best validation AUC and history of the ranker and its baseline."""
        return self.ranking / "training.json"

    @property
    def judgment_ranker(self) -> Path:
        """The listwise ranker trained on graded judgments (`model.json` + weights)."""
        return self.ranking / "judgments" / "listwise"

    @property
    def cross_encoder(self) -> Path:
        """The BERT cross-encoder re-ranker trained on graded judgments."""
        return self.ranking / "judgments" / "cross_encoder"

    # --- tuning, index, export -------------------------------------------------------------
    @property
    def tuning(self) -> Path:
        return self.root / "tuning"

    @property
    def index(self) -> Path:
        return self.root / "index"

    @property
    def added_items(self) -> Path:
        """Items added to the index after training (cold start), with their contract columns."""
        return self.index / "added_items.parquet"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def item_journal(self) -> Path:
        """Items added while serving (`POST /v1/items`): an append-only JSON Lines journal,
        one record per request, replayed by `tfrec serve` and folded into the next export."""
        return self.root / "live_items.jsonl"

    @property
    def item_journal_lock(self) -> Path:
        """The lock file of the one server that appends to `item_journal`."""
        return self.root / "live_items.lock"

    @property
    def writer_lock(self) -> Path:
        """The lock file of the one process writing the run (`tfrec.core.runlock`)."""
        return self.root / "run.lock"

    def export_model(self, name: str) -> Path:
        """`export/<name>/`: the version directories of one TF Serving model."""
        return self.export / name

    @property
    def models_config(self) -> Path:
        return self.export / "models.config"

    @property
    def bench(self) -> Path:
        """`tfrec bench` results."""
        return self.root / "bench.json"

    # --- evaluation ------------------------------------------------------------------------
    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def report(self) -> Path:
        return self.root / "report"

    def report_page(self, name: str) -> Path:
        """`report/<name>.html` (`index`, `ranking`, `shop`, `tuning`)."""
        return self.report / f"{name}.html"

    def save_metrics(self, metrics: dict) -> None:
        """Merge `metrics` into metrics.json (each stage adds its own sections)."""
        path = self.metrics
        path.parent.mkdir(parents=True, exist_ok=True)
        existing = json.loads(path.read_text()) if path.exists() else {}
        existing.update(metrics)
        path.write_text(json.dumps(existing, indent=2, default=float))
