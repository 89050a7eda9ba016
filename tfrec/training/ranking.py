"""Training the CTR ranker: `tfrec train ranking CONFIG` and the `ranking` stage's fit.

1. ranking examples from the logged impressions (`tfrec.data.ranking_examples`) and their
   features from the frozen retrieval model (`RankingFeatureBuilder`), for every split
   (`prepare_ranking_inputs`);
2. the DCN-v2 ranker trained with Keras `fit` under the configured `tf.distribute` strategy:
   `EarlyStopping` and `ModelCheckpoint` on the validation click AUC (`val_click_auc`),
   `BackupAndRestore` (a killed run resumes mid-epoch), `TensorBoard`, progress bars; then the
   logistic-regression baseline on the same features, the same way (`train_ranking`).

The evaluation is `tfrec.evaluation.ranking`; the stage (`tfrec.stages.ranking`) joins them.

Artifacts: runs/<name>/ranking/{model,baseline}/ (model.json + weights), checkpoints/, backup/,
logs/, training.json.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tfrec.config import Config
from tfrec.core.distribute import check_static_inputs, get_strategy
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.data.prepared import PreparedData, read_clean_table
from tfrec.data.ranking_examples import ExtraFeatureEncoder, ranking_frame, ranking_queries
from tfrec.models.ranking import RankingModel, logistic_regression_config
from tfrec.models.ranking_features import (
    RankingFeatureBuilder,
    make_dataset,
    ranking_query_text_table,
)
from tfrec.training.callbacks import training_callbacks
from tfrec.training.ranking_io import ranking_model_config, save_ranking_model

VAL_METRIC = "val_click_auc"


def check_labels(labels: dict, split: str = "train") -> bool:
    """Raise when no click occurs; return whether the purchase head can be trained.

    Args:
        labels: dict of np.ndarray. `click` and `purchase` labels of the split's impressions.
        split: str. The split's name (for the messages).

    Example:
        >>> check_labels({"click": np.ones(3), "purchase": np.ones(3)})  # doctest: +SKIP
        True
    """
    clicks = float(labels["click"].sum())
    if clicks == 0:
        raise ValueError(
            f"no clicks among the {len(labels['click'])} {split} impressions: the ranker has no "
            "positive to learn from (events need click rows with the query and session of an "
            "impression)"
        )
    purchases = float((labels["purchase"] * labels["click"]).sum())
    if purchases == 0:
        echo(
            f"[ranking] no purchases among the {split} impressions: the purchase head is "
            "disabled and the ordering score is p(click) alone"
        )
        return False
    return True


def fit_ranker(
    model: RankingModel,
    train_ds,
    val_ds,
    out: Path,
    cfg: Config,
    strategy,
    epochs: int | None = None,
) -> dict:
    """Keras fit with the retrieval stage's callbacks; returns the history.

    Args:
        model: RankingModel. Compiled under `strategy`'s scope.
        train_ds: tf.data.Dataset. Training (features, labels) batches (`make_dataset`).
        val_ds: tf.data.Dataset. Validation batches.
        out: Path. Where checkpoints, backup and logs go.
        cfg: the run's config (`ranking.epochs`, patience, backups; `training.fit_verbose`).
        strategy: the `tf.distribute.Strategy` the model was built under.
        epochs: int or None. Overrides `ranking.epochs`.

    Example:
        >>> history = fit_ranker(model, train_ds, val_ds, run.ranking, cfg, strategy)  # doctest: +SKIP
        >>> max(history["val_click_auc"])  # doctest: +SKIP
        0.61
    """
    r = cfg.ranking
    with strategy.scope():
        batch = next(iter(train_ds))
        model.compute_loss(batch, training=False)
        model.optimizer.build(model.trainable_variables)
    callbacks = training_callbacks(
        out, VAL_METRIC, r.early_stopping_patience, r.backup_every_steps, "ranking"
    )
    history = model.fit(
        train_ds,
        validation_data=val_ds,
        epochs=epochs or r.epochs,
        callbacks=callbacks,
        verbose=cfg.training.fit_verbose,
    )
    return {k: [float(x) for x in v] for k, v in history.history.items()}


def read_ranking_tables(run: RunDir) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The run's clean (events, items) tables, where ranking examples read event-level extras
    and item-level extras from; (None, None) when the run has no events table.

    Args:
        run: RunDir. The run the data stage wrote.

    Example:
        >>> events, items = read_ranking_tables(RunDir(cfg.run_path))  # doctest: +SKIP
    """
    events = read_clean_table(run, "events")
    if events is None:
        return None, None
    return events, read_clean_table(run, "items")


def prepare_ranking_inputs(
    cfg: Config,
    data: PreparedData,
    retrieval_model,
    events: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
) -> dict:
    """Ranking frames, features and labels of every split, and the feature builder.

    Args:
        cfg: the run's config (`ranking`, `text`, `seed`).
        data: PreparedData. The run's prepared data.
        retrieval_model: the trained `RetrievalModel` (frozen).
        events: pd.DataFrame or None. The clean events table (event-level extras).
        items: pd.DataFrame or None. The clean items table (item-level extras).

    Returns:
        dict with `frames` (split -> ranking frame), `inputs` (split -> (features, labels)),
        `builder` (the `RankingFeatureBuilder`) and `extras` (`ExtraFeatureEncoder` or None).

    Example:
        >>> prepared = prepare_ranking_inputs(cfg, data, model, *read_ranking_tables(run))  # doctest: +SKIP
        >>> feats, labels = prepared["inputs"]["train"]  # doctest: +SKIP
    """
    queries = ranking_queries(data)
    table = (
        None
        if retrieval_model.train_text
        else ranking_query_text_table(cfg, retrieval_model, queries)
    )
    kinds = dict(cfg.ranking.extra_features)
    frames = {
        s: ranking_frame(data, s, queries, events=events, items=items, extra_features=kinds)
        for s in ("train", "val", "test")
    }
    extras = ExtraFeatureEncoder.fit(frames["train"], kinds) if kinds else None
    builder = RankingFeatureBuilder(data, retrieval_model, queries, table, extras, items)
    r = cfg.ranking
    if r.unshown_negatives:
        extra = builder.unshown_negatives(
            frames["train"], r.unshown_negatives, r.candidates, 0, cfg.seed
        )
        echo(
            f"[ranking] {len(extra)} unshown retrieval candidates added to training as negatives "
            f"(up to {r.unshown_negatives} per search from the top {r.candidates})"
        )
        frames["train"] = pd.concat([frames["train"], extra], ignore_index=True)
    inputs = {s: builder.frame_features(f) for s, f in frames.items()}
    return {"frames": frames, "inputs": inputs, "builder": builder, "extras": extras}


@dataclass
class TrainedRankers:
    """What `train_ranking` hands to the evaluation.

    Args:
        ranker: RankingModel. The trained DCN-v2 ranker (best validation epoch).
        baseline: RankingModel. The trained logistic-regression baseline.
        prepared: dict. `prepare_ranking_inputs`'s frames, inputs, builder and extras.
        summary: dict. Per model: epochs run, best validation AUC, seconds, history.
    """

    ranker: RankingModel
    baseline: RankingModel
    prepared: dict
    summary: dict

    @property
    def models(self) -> dict[str, RankingModel]:
        """`{"ranker": ..., "logistic regression": ...}`, the names the evaluation prints."""
        return {"ranker": self.ranker, "logistic regression": self.baseline}


def train_ranking(
    cfg: Config,
    run: RunDir,
    data: PreparedData,
    retrieval_model,
    events: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
) -> TrainedRankers:
    """Train (or resume) the ranker and its logistic-regression baseline on the same features;
    saves both (`run.ranker`, `run.ranking_baseline`) and `training.json` under `run.ranking`.

    Args:
        cfg: the run's config (`ranking`, `training`).
        run: RunDir. Where checkpoints, backups, logs and the models go.
        data: PreparedData. The run's prepared data.
        retrieval_model: the trained `RetrievalModel` (frozen: its towers are features).
        events: pd.DataFrame or None. The clean events table (`read_ranking_tables`).
        items: pd.DataFrame or None. The clean items table.

    Example:
        >>> trained = train_ranking(cfg, run, data, model, *read_ranking_tables(run))  # doctest: +SKIP
        >>> trained.ranker.purchase_head  # doctest: +SKIP
        True
    """
    r = cfg.ranking
    strategy = get_strategy(cfg.training)
    t0 = time.time()
    prepared = prepare_ranking_inputs(cfg, data, retrieval_model, events, items)
    inputs = prepared["inputs"]
    sizes = {s: len(v[1]["click"]) for s, v in inputs.items()}
    echo(
        "[ranking] impressions: "
        + ", ".join(f"{s} {n}" for s, n in sizes.items())
        + f"; click rate (train) {inputs['train'][1]['click'].mean():.4f}; features built in "
        f"{time.time() - t0:.1f} s"
    )
    purchase_head = check_labels(inputs["train"][1], "train")
    echo(
        f"[ranking] DCN-v2: {r.cross_layers} cross layers (projection_dim {r.projection_dim}), "
        f"deep {r.deep_layers}, {r.structure}; strategy {cfg.training.strategy} "
        f"({strategy.num_replicas_in_sync} replica(s)), batch {r.batch_size}, epochs {r.epochs}"
    )
    train_ds = make_dataset(
        *inputs["train"],
        r.batch_size,
        True,
        cfg.training.seed,
        drop_remainder=cfg.training.static_shapes,
    )
    if cfg.training.static_shapes:
        check_static_inputs(train_ds, "ranking training batches")
    val_ds = make_dataset(*inputs["val"], 4096, False, cfg.training.seed)
    base_config = ranking_model_config(
        cfg, data, prepared["extras"], purchase_head, inputs["train"][0]
    )

    run.ranking.mkdir(parents=True, exist_ok=True)
    summary = {}
    models = {}
    for key, config, work, saved in (
        ("model", base_config, run.ranking, run.ranker),
        (
            "baseline",
            logistic_regression_config(base_config),
            run.ranking_baseline_training,
            run.ranking_baseline,
        ),
    ):
        label = "ranker" if key == "model" else "logistic-regression baseline"
        echo(f"[ranking] training the {label}")
        t1 = time.time()
        with strategy.scope():
            model = RankingModel.from_config(config)
            model.compile_default(cfg.training.steps_per_execution, cfg.training.jit_compile)
        history = fit_ranker(model, train_ds, val_ds, work, cfg, strategy)
        save_ranking_model(model, saved, prepared["extras"])
        best = max(history.get(VAL_METRIC, [0.0]))
        summary[key] = {
            "epochs_run": len(history.get("loss", [])),
            f"best_{VAL_METRIC}": best,
            "seconds": round(time.time() - t1, 1),
            "history": history,
        }
        echo(f"[ranking] {label}: best {VAL_METRIC} {best:.4f} ({summary[key]['seconds']} s)")
        models[key] = model
    run.ranking_training_summary.write_text(json.dumps(summary, indent=2))
    return TrainedRankers(models["model"], models["baseline"], prepared, summary)
