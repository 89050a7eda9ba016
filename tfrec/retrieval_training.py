"""Training the retrieval model: `tfrec train retrieval CONFIG` and the `retrieval` stage.

Keras `fit` with:
- a validation callback that computes full-catalog Recall@100 on held-out searches and home-feed
  users at the end of every epoch (`val_recall_at_100`, the mean of both);
- `EarlyStopping` and `ModelCheckpoint` on that metric (best weights kept);
- `BackupAndRestore` every `backup_every_steps` batches, so a killed run started again resumes
  mid-epoch from its last backup;
- `TensorBoard` logs; Keras progress bars.

The model and optimizer are built under the configured `tf.distribute` strategy's scope.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrec.config import Config
from tfrec.data.datasets import PreparedData, retrieval_dataset
from tfrec.distribute import get_strategy
from tfrec.pipeline import RunDir, echo, load_prepared
from tfrec.retrieval import RetrievalModel, build_retrieval_model

VAL_METRIC = "val_recall_at_100"


def frozen_text_tables(
    cfg: Config, data: PreparedData, encoder=None
) -> tuple[np.ndarray, np.ndarray]:
    """Frozen-encoder embeddings of every item text and every known query, from the on-disk
    cache (computed once per checkpoint, max_length, pooling and text). Row 0 of each is zeros
    (padding item / no query)."""
    from tfrec.text.cache import EmbeddingCache

    t = cfg.text
    cache = EmbeddingCache(t.cache_dir, t.checkpoint, t.max_length, t.pooling)
    state = {"encoder": encoder}

    def encode(texts: list[str]) -> np.ndarray:
        if state["encoder"] is None:
            state["encoder"] = make_text_encoder(cfg, mode="frozen")
        return state["encoder"].encode_texts(texts, batch_size=t.encode_batch_size)

    items = cache.get_or_compute(data.catalog.texts[1:], encode)
    item_hits, item_new = cache.last_hits, cache.last_computed
    queries = cache.get_or_compute(data.queries[1:], encode) if len(data.queries) > 1 else None
    dim = items.shape[1]
    item_table = np.vstack([np.zeros((1, dim), np.float32), items]).astype(np.float32)
    query_table = np.zeros((len(data.queries), dim), np.float32)
    if queries is not None:
        query_table[1:] = queries
    echo(
        f"[text] item texts: {item_hits} cached, {item_new} encoded; queries: "
        f"{cache.last_hits if queries is not None else 0} cached, "
        f"{cache.last_computed if queries is not None else 0} encoded ({cache.path})"
    )
    if state["encoder"] is not None:
        tok = state["encoder"].tokenizer
        n_items = tok.count_truncated(data.catalog.texts[1:])
        n_queries = tok.count_truncated(data.queries[1:]) if len(data.queries) > 1 else 0
        echo(
            f"[text] truncated to {t.max_length} tokens: {n_items} of {len(data.catalog) - 1} "
            f"item texts, {n_queries} of {len(data.queries) - 1} queries"
        )
    return item_table, query_table


def make_text_encoder(cfg: Config, mode: str | None = None, name: str = "text_encoder"):
    from tfrec.text.encoder import TextEncoder

    t = cfg.text
    return TextEncoder(
        t.checkpoint,
        max_length=t.max_length,
        pooling=t.pooling,
        mode=mode or t.mode,
        trainable_layers=t.trainable_layers,
        # a TPU compiles one shape: keep batches padded to max_length there
        trim_padding=cfg.training.strategy != "tpu",
        name=name,
    )


class ValidationRecall(keras.callbacks.Callback):
    """Full-catalog Recall@K on the validation searches and feed users, added to the epoch logs
    as `val_search_recall_at_K`, `val_feed_recall_at_K` and their mean `val_recall_at_K`."""

    def __init__(self, data: PreparedData, k: int = 100, max_instances: int = 2000):
        super().__init__()
        self.data = data
        self.k = k
        self.max_instances = max_instances

    def on_epoch_end(self, epoch, logs=None):
        from tfrec.evaluation import evaluate_scorers, model_scorer

        logs = logs if logs is not None else {}
        scorer = {"trained": model_scorer(self.data, self.model)}
        values = []
        for task in ("search", "feed"):
            res = evaluate_scorers(
                self.data,
                scorer,
                task,
                "val",
                ks=[self.k],
                max_instances=self.max_instances,
                curve_k=1,
            )
            m = res["slices"].get("all", {}).get("trained")
            if m:
                logs[f"val_{task}_recall_at_{self.k}"] = m[f"recall@{self.k}"]
                values.append(m[f"recall@{self.k}"])
        logs[f"val_recall_at_{self.k}"] = float(np.mean(values)) if values else 0.0
        echo(
            f" - val recall@{self.k}: "
            + ", ".join(f"{k[4:]}={v:.4f}" for k, v in logs.items() if k.startswith("val_"))
        )


class ResumeReporter(keras.callbacks.Callback):
    """Says whether `BackupAndRestore` (placed before it) restored a killed run, and where from."""

    def __init__(self, stage: str):
        super().__init__()
        self.stage = stage
        self.resumed_from: tuple[int, int] | None = None

    def on_train_begin(self, logs=None):
        state = getattr(self.model, "_training_state", None)
        if state is None:
            return
        epoch = int(state._ckpt_saved_epoch.numpy())
        batch = int(state._ckpt_saved_batch.numpy())
        if epoch >= 0:
            self.resumed_from = (epoch, batch)
            echo(f"[{self.stage}] resumed from backup: epoch {epoch + 1}, after batch {batch + 1}")


def build_model_for_run(cfg: Config, data: PreparedData, strategy=None) -> RetrievalModel:
    """The retrieval model of a config, with text tables from the cache (under the strategy)."""
    strategy = strategy or get_strategy(cfg.training)
    item_table, query_table = frozen_text_tables(cfg, data)
    with strategy.scope():
        encoder = item_encoder = None
        if cfg.text.mode != "frozen":
            encoder = make_text_encoder(cfg, name="query_text_encoder")
            if not cfg.text.share_backbone:
                item_encoder = make_text_encoder(cfg, name="item_text_encoder")
        model = build_retrieval_model(
            cfg, data, item_table, query_table, text_encoder=encoder, item_text_encoder=item_encoder
        )
    return model


def _build_variables(model: RetrievalModel, dataset) -> None:
    """Create every variable (model and optimizer) before fit, as BackupAndRestore requires."""
    batch = next(iter(dataset))
    model.compute_loss(batch, training=False)
    model.optimizer.build(model.trainable_variables)


def training_callbacks(
    out_dir: Path,
    monitor: str,
    patience: int,
    backup_every_steps: int,
    stage: str,
    extra_first: list | None = None,
) -> list[keras.callbacks.Callback]:
    """The callbacks every training stage uses: `extra_first` (callbacks that add `monitor` to
    the epoch logs run before the others read it), `EarlyStopping` and `ModelCheckpoint`
    (`out_dir/checkpoints/best`) on `monitor` (higher is better, best weights restored),
    `BackupAndRestore` (`out_dir/backup`, every `backup_every_steps` batches), a resume report
    and `TensorBoard` (`out_dir/logs`)."""
    return [
        *(extra_first or []),
        keras.callbacks.EarlyStopping(
            monitor=monitor, mode="max", patience=patience, restore_best_weights=True, verbose=1
        ),
        keras.callbacks.ModelCheckpoint(
            str(out_dir / "checkpoints" / "best"),
            monitor=monitor,
            mode="max",
            save_best_only=True,
            save_weights_only=True,
        ),
        keras.callbacks.BackupAndRestore(str(out_dir / "backup"), save_freq=backup_every_steps),
        ResumeReporter(stage),
        keras.callbacks.TensorBoard(str(out_dir / "logs"), update_freq="epoch"),
    ]


def train_retrieval(cfg: Config, run: RunDir, data: PreparedData | None = None) -> RetrievalModel:
    """Train (or resume) the retrieval model of a run; returns the best model."""
    data = data or load_prepared(cfg, run)
    r = cfg.retrieval
    tf.keras.utils.set_random_seed(cfg.training.seed)
    strategy = get_strategy(cfg.training)
    echo(
        f"[retrieval] text mode {cfg.text.mode}, strategy {cfg.training.strategy} "
        f"({strategy.num_replicas_in_sync} replica(s)), batch {r.batch_size}, epochs {r.epochs}"
    )
    model = build_model_for_run(cfg, data, strategy)
    train = retrieval_dataset(
        data,
        "train",
        r.batch_size,
        seed=cfg.training.seed,
        history_example_weight=r.history_example_weight,
        include_text=cfg.text.mode != "frozen",
        # a trained BERT reads token ids made on the host, so no strings reach the device
        tokenizer=model.text_encoder.tokenizer if cfg.text.mode != "frozen" else None,
    )
    with strategy.scope():
        _build_variables(model, train)

    out = run.retrieval
    out.mkdir(parents=True, exist_ok=True)
    callbacks = training_callbacks(
        out,
        VAL_METRIC,
        r.early_stopping_patience,
        r.backup_every_steps,
        "retrieval",
        extra_first=[ValidationRecall(data, k=100)],
    )
    t0 = time.time()
    history = model.fit(
        train, epochs=r.epochs, callbacks=callbacks, verbose=cfg.training.fit_verbose
    )
    seconds = time.time() - t0
    save_retrieval_model(model, out)
    best = max(history.history.get(VAL_METRIC, [0.0]))
    summary = {
        "epochs_run": len(history.history.get("loss", [])),
        "best_val_recall_at_100": best,
        "seconds": round(seconds, 1),
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
    }
    (out / "training.json").write_text(json.dumps(summary, indent=2))
    echo(f"[retrieval] best {VAL_METRIC} {best:.4f}; model in {out / 'model'}")
    return model


def save_retrieval_model(model: RetrievalModel, out: Path) -> None:
    """Weights (TF checkpoint format) and the item embeddings of the final model."""
    (out / "model").mkdir(parents=True, exist_ok=True)
    model.save_weights(str(out / "model" / "weights"))
    np.save(out / "item_embeddings.npy", model.all_item_embeddings())


def load_retrieval_model(
    cfg: Config, run: RunDir, data: PreparedData | None = None
) -> RetrievalModel:
    """Rebuild the model of a run and restore its trained weights."""
    data = data or load_prepared(cfg, run)
    weights = run.retrieval / "model" / "weights"
    if not Path(str(weights) + ".index").exists():
        raise FileNotFoundError(
            f"{weights}.index does not exist: train first (`tfrec train retrieval CONFIG`)"
        )
    key = (
        str(run.root.resolve()),
        Path(str(weights) + ".index").stat().st_mtime_ns,
        id(data),
        repr(cfg.retrieval),
        repr(cfg.text),
    )
    # the stages of one `tfrec run` (evaluate, ranking, shop, export, index) share one model
    if _MODEL_MEMO.get("key") == key:
        return _MODEL_MEMO["model"]
    model = build_model_for_run(cfg, data)
    batch = next(iter(retrieval_dataset(data, "train", 8, shuffle=False)))
    model.compute_loss(batch, training=False)
    model.load_weights(str(weights)).expect_partial()
    _MODEL_MEMO.clear()
    _MODEL_MEMO.update(key=key, model=model)
    return model


_MODEL_MEMO: dict = {}
