"""Training and evaluating the CTR ranker: `tfrec train ranking CONFIG` and the `ranking` stage.

The stage:

1. loads the run's prepared data and its trained retrieval model (frozen: its tower outputs
   are the ranker's embedding features);
2. builds ranking examples from the logged impressions (`tfrec.data.ranking_examples`) and
   their features (`RankingFeatureBuilder`);
3. trains the DCN-v2 ranker with Keras `fit` under the configured `tf.distribute` strategy:
   `EarlyStopping` and `ModelCheckpoint` on the validation click AUC (`val_click_auc`),
   `BackupAndRestore` (a killed run resumes mid-epoch), `TensorBoard`, progress bars; then the
   logistic-regression baseline on the same features, the same way;
4. evaluates both on the test split (`evaluate_ranking`): AUC, LogLoss and GAUC (per query and
   per user) for click and purchase, calibration, the effect of fixing the position, and the
   end-to-end NDCG@10 / purchase Recall@10 of retrieval-then-ranking on held-out searches (the
   ranker's score alone, and its serving score log(score) + beta * dot / temperature, beta
   chosen on the validation searches and saved with the model as `retrieval_weight`);
   prints the tables, merges them into metrics.json and writes report/ranking.html.

Artifacts: runs/<name>/ranking/{model,baseline}/ (model.json + weights), checkpoints/, backup/,
logs/, training.json.
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.config import Config
from tfrec.data.datasets import PreparedData, Vocabulary
from tfrec.data.ranking_examples import (
    HISTORY_FEATURES,
    ExtraFeatureEncoder,
    history_features,
    item_feature_arrays,
    ranking_frame,
    ranking_queries,
)
from tfrec.core.distribute import get_strategy
from tfrec.core.rundir import RunDir
from tfrec.core.log import echo
from tfrec.data.prepared import load_prepared
from tfrec.models.ranking import RankingModel, logistic_regression_config, random_candidates

VAL_METRIC = "val_click_auc"
GAIN = {"click": 1.0, "add_to_cart": 2.0, "purchase": 3.0}


# ------------------------------------------------------------------------------------------------
# Features
# ------------------------------------------------------------------------------------------------


class _QueryTextLookup:
    """Raw query string -> its row of a text-embedding table; stands in for a `TextEncoder` so
    the retrieval model embeds queries it has no table row for (frozen mode)."""

    def __init__(self, queries: list[str], table: np.ndarray):
        self.table = tf.constant(table, tf.float32)
        self.index = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(queries), tf.range(len(queries), dtype=tf.int64)
            ),
            default_value=0,
        )

    def __call__(self, strings: tf.Tensor, training: bool = False) -> tf.Tensor:
        return tf.gather(self.table, self.index.lookup(strings))


def ranking_query_text_table(
    cfg: Config, data: PreparedData, retrieval_model, queries: list[str]
) -> np.ndarray:
    """Frozen-encoder embeddings of every ranking query: the retrieval model's own rows for its
    known queries, the embedding cache (encoding what is missing) for impression-only ones."""
    known = retrieval_model.query_text_table.numpy()
    if len(queries) == len(known):
        return known
    from tfrec.text.frozen import make_text_encoder
    from tfrec.text.cache import EmbeddingCache

    t = cfg.text
    cache = EmbeddingCache(t.cache_dir, t.checkpoint, t.max_length, t.pooling)
    state = {}

    def encode(texts: list[str]) -> np.ndarray:
        if "encoder" not in state:
            state["encoder"] = make_text_encoder(cfg, mode="frozen")
        return state["encoder"].encode_texts(texts, batch_size=t.encode_batch_size)

    extra = cache.get_or_compute(queries[len(known) :], encode)
    echo(
        f"[ranking] {len(extra)} impression-only queries: {cache.last_hits} cached, "
        f"{cache.last_computed} encoded"
    )
    return np.vstack([known, extra]).astype(np.float32)


class RankingFeatureBuilder:
    """Turns ranking frames and evaluation candidates into the ranker's feature arrays.

    Args:
        data: PreparedData. The run's prepared data.
        retrieval_model: the trained `RetrievalModel` (its towers are not changed).
        queries: list of str. `ranking_queries(data)`.
        query_text_table: np.ndarray [len(queries), H] or None. Text embeddings of `queries` for a
            frozen-mode model (None when the model embeds raw strings with a live encoder).
        extras: ExtraFeatureEncoder or None. Config-declared extras.
        items: pd.DataFrame or None. The clean items table (item-level extras of candidates).
    """

    def __init__(
        self, data, retrieval_model, queries, query_text_table=None, extras=None, items=None
    ):
        self.data = data
        self.items = items
        self.retrieval_model = retrieval_model
        self.queries = list(queries)
        self.query_text_table = query_text_table
        self.extras = extras
        self.item_embeddings = retrieval_model.all_item_embeddings()

    def query_embeddings(self, frame: pd.DataFrame, batch_size: int = 1024) -> np.ndarray:
        """Query-tower outputs for rows with `query_idx` (into `queries`), `user_idx`, `history`."""
        model = self.retrieval_model
        attach = not model.train_text and model.text_encoder is None
        if attach:
            if self.query_text_table is None:
                raise ValueError("a frozen-mode retrieval model needs `query_text_table`")
            model.attach_text_encoder(_QueryTextLookup(self.queries, self.query_text_table))
        try:
            out = []
            for start in range(0, len(frame), batch_size):
                chunk = frame.iloc[start : start + batch_size]
                feats = {
                    "query": tf.constant(
                        [self.queries[i] for i in chunk["query_idx"].to_numpy()], tf.string
                    ),
                    "user_idx": chunk["user_idx"].to_numpy(np.int64),
                    "history": np.stack(chunk["history"].to_numpy()).astype(np.int64),
                }
                out.append(model.query_embeddings(feats).numpy())
        finally:
            if attach:
                model.text_encoder = None
                model.item_text_encoder = None
        dim = self.item_embeddings.shape[1]
        return np.concatenate(out) if out else np.zeros((0, dim), np.float32)

    def frame_features(self, frame: pd.DataFrame) -> tuple[dict, dict]:
        """(features, labels) of a ranking frame; query embeddings computed once per search."""
        firsts = frame.drop_duplicates("search_id")
        q = self.query_embeddings(firsts)
        row_of = pd.Series(np.arange(len(firsts)), index=firsts["search_id"].to_numpy())
        q_emb = q[row_of.loc[frame["search_id"].to_numpy()].to_numpy()]
        item_idx = frame["item_idx"].to_numpy(np.int64)
        history = np.stack(frame["history"].to_numpy())
        feats = self._features(q_emb, item_idx, frame["hour"].to_numpy(np.int64), history, frame)
        feats["position"] = frame["position"].to_numpy(np.int64)
        labels = {k: frame[k].to_numpy(np.float32) for k in ("click", "purchase")}
        return feats, labels

    def unshown_negatives(
        self, frame: pd.DataFrame, per_search: int, candidates: int, position: int, seed: int
    ) -> pd.DataFrame:
        """Rows for retrieval candidates that a search did not show: for every search, up to
        `per_search` items drawn from the retrieval model's top `candidates` for it, minus the
        shown items, labelled not clicked, at `position` (0: the model's "retrieved but not
        shown" bucket, so they do not bias the logits of real positions).

        The ranker scores retrieval candidates at serving time, and most of them were never
        shown; trained on shown items only, it never learns that the retrieval model's
        lower-ranked candidates are rarely what a search leads to."""
        if per_search <= 0:
            return frame.iloc[:0]
        from tfrec.core.topk import top_k

        firsts = frame.drop_duplicates("search_id").reset_index(drop=True)
        shown = frame.groupby("search_id")["item_idx"].agg(set).to_dict()
        search_ids = firsts["search_id"].to_numpy()
        rng = np.random.default_rng(seed)
        q = self.query_embeddings(firsts)
        rows, items = [], []
        for start in range(0, len(firsts), 512):
            top = top_k(q[start : start + 512] @ self.item_embeddings.T, candidates)
            for offset, cands in enumerate(top):
                row = start + offset
                seen = shown[search_ids[row]]
                pool = [i for i in cands if i not in seen]
                if pool:
                    pick = rng.choice(pool, size=min(per_search, len(pool)), replace=False)
                    rows += [row] * len(pick)
                    items += pick.tolist()
        extra = firsts.iloc[rows].reset_index(drop=True).copy()
        extra["item_idx"] = np.asarray(items, np.int64)
        extra["item_id"] = [self.data.catalog.item_ids[i] for i in items]
        extra["position"] = position
        for label in ("click", "add_to_cart", "purchase"):
            extra[label] = 0.0
        if self.extras is not None:
            for name in self.extras.kinds:
                if self.items is not None and name in self.items:
                    extra[name] = self._item_extra(name, extra)
        return extra

    def candidate_features(
        self,
        query_emb: np.ndarray,
        candidates: np.ndarray,
        hours: np.ndarray,
        histories: np.ndarray,
    ) -> dict:
        """Features of `candidates` [n, C] item indices for n requests with query embeddings
        [n, D], hours [n] and user histories [n, L] (serving: no position)."""
        n, c = candidates.shape
        flat = candidates.reshape(-1)
        frame = pd.DataFrame({"item_id": [self.data.catalog.item_ids[i] for i in flat]})
        return self._features(
            np.repeat(query_emb, c, axis=0),
            flat,
            np.repeat(hours, c),
            np.repeat(np.asarray(histories, np.int64), c, axis=0),
            frame,
        )

    def _features(self, q_emb, item_idx, hours, history, frame) -> dict:
        feats = {
            "query_embedding": q_emb.astype(np.float32),
            "item_embedding": self.item_embeddings[item_idx].astype(np.float32),
            "item_idx": np.asarray(item_idx, np.int64),
            "hour": hours.astype(np.int64),
            **item_feature_arrays(self.data, item_idx),
            **history_features(self.data, history, item_idx),
        }
        if self.extras is not None and self.extras.kinds:
            frame = frame.copy()
            for name in self.extras.kinds:
                if name not in frame:
                    frame[name] = self._item_extra(name, frame)
            feats.update(self.extras.transform(frame))
        return feats

    def _item_extra(self, name: str, frame: pd.DataFrame) -> pd.Series:
        """An item-level extra of candidates; context extras (event columns) are unknown for
        candidates that were never shown, and get the encoder's default (unknown / mean)."""
        if self.items is not None and name in self.items:
            return frame["item_id"].map(self.items.set_index("item_id")[name])
        return pd.Series(np.nan, index=frame.index, dtype="object")


def make_dataset(feats: dict, labels: dict, batch_size: int, shuffle: bool, seed: int):
    ds = tf.data.Dataset.from_tensor_slices((feats, labels))
    if shuffle:
        ds = ds.shuffle(
            min(len(labels["click"]), 200_000), seed=seed, reshuffle_each_iteration=True
        )
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


# ------------------------------------------------------------------------------------------------
# Model building, saving, loading
# ------------------------------------------------------------------------------------------------


def architecture_config(r) -> dict:
    """The `RankingModel` arguments that come straight from `RankingConfig` `r` (the layers'
    shapes and the position handling), shared by the trained ranker and the benchmark."""
    return {
        "feature_dim": r.feature_dim,
        "cross_layers": r.cross_layers,
        "projection_dim": r.projection_dim,
        "deep_layers": list(r.deep_layers),
        "structure": r.structure,
        "max_position": r.max_position,
        "serving_position": r.serving_position,
        "item_id_dim": r.item_id_embedding_dim,
    }


def ranking_model_config(
    cfg: Config,
    data: PreparedData,
    extras: ExtraFeatureEncoder | None,
    purchase_head: bool,
    train_features: dict | None = None,
) -> dict:
    """Constructor arguments of the run's ranker; numeric features (the history features and
    numeric extras) are standardised with their mean and std over `train_features`."""
    r = cfg.ranking
    c = data.catalog
    numeric = [*HISTORY_FEATURES, *(extras.numeric if extras else [])]
    means, stds = [], []
    for name in numeric:
        x = np.asarray(train_features[name], np.float64) if train_features else np.zeros(1)
        means.append(float(x.mean()))
        stds.append(float(x.std()) or 1.0)
    return {
        "category_vocab_sizes": [len(v) for v in c.category_vocabs],
        "brand_vocab_size": len(c.brand_vocab),
        "num_price_buckets": len(c.price_boundaries) + 2,
        **architecture_config(r),
        "purchase_head": purchase_head,
        "click_loss_weight": r.click_loss_weight,
        "purchase_loss_weight": r.purchase_loss_weight,
        "purchase_score_weight": r.purchase_score_weight,
        "dot_scale": 1.0 / cfg.retrieval.temperature,
        "numeric_features": numeric,
        "numeric_means": means,
        "numeric_stds": stds,
        "categorical_features": extras.categorical_sizes if extras else {},
        "learning_rate": r.learning_rate,
        "num_items": len(c),
        "name": "ranker",
    }


def _extras_to_json(extras: ExtraFeatureEncoder | None) -> dict:
    if extras is None:
        return {}
    return {
        "kinds": extras.kinds,
        "vocabularies": {n: v.values[1:] for n, v in extras.vocabularies.items()},
        "means": extras.means,
        "stds": extras.stds,
    }


def _extras_from_json(d: dict) -> ExtraFeatureEncoder | None:
    if not d:
        return None
    return ExtraFeatureEncoder(
        kinds=d["kinds"],
        vocabularies={n: Vocabulary(v) for n, v in d["vocabularies"].items()},
        means=d["means"],
        stds=d["stds"],
    )


def save_ranking_model(
    model: RankingModel, out: Path, extras: ExtraFeatureEncoder | None = None
) -> None:
    """`out/model.json` (constructor config, embedding size, extras' vocabularies) and
    `out/weights` (TF checkpoint)."""
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "config": model.get_config(),
        "embedding_dim": model.embedding_dim,
        "extras": _extras_to_json(extras),
    }
    (out / "model.json").write_text(json.dumps(meta, indent=2))
    model.save_weights(str(out / "weights"))


def load_ranking_model(path: str | Path) -> tuple[RankingModel, ExtraFeatureEncoder | None]:
    """Rebuild a saved ranker and restore its weights; returns (model, extras encoder)."""
    path = Path(path)
    meta_path = path / "model.json"
    if not meta_path.exists():
        raise FileNotFoundError(
            f"{meta_path} does not exist: train first (`tfrec train ranking CONFIG`)"
        )
    meta = json.loads(meta_path.read_text())
    model = RankingModel.from_config(meta["config"])
    model(random_candidates(model, 2, meta["embedding_dim"]))
    model.load_weights(str(path / "weights")).expect_partial()
    return model, _extras_from_json(meta.get("extras", {}))


# ------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------


def check_labels(labels: dict, split: str = "train") -> bool:
    """Raise when no click occurs; return whether the purchase head can be trained."""
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
    """Keras fit with the retrieval stage's callbacks; returns the history."""
    from tfrec.training.callbacks import training_callbacks

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


def prepare_ranking_inputs(cfg: Config, run: RunDir, data: PreparedData, retrieval_model) -> dict:
    """Ranking frames, features and labels of every split, and the feature builder."""
    events = items = None
    if (run.clean / "events.parquet").exists():
        events = pd.read_parquet(run.clean / "events.parquet")
        items = pd.read_parquet(run.clean / "items.parquet")
    queries = ranking_queries(data)
    table = (
        None
        if retrieval_model.train_text
        else ranking_query_text_table(cfg, data, retrieval_model, queries)
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


def train_ranking(cfg: Config, run: RunDir, data: PreparedData | None = None) -> RankingModel:
    """Train (or resume) the ranker and its logistic-regression baseline, then evaluate both."""
    from tfrec.training.retrieval import load_retrieval_model

    data = data or load_prepared(cfg, run)
    r = cfg.ranking
    tf.keras.utils.set_random_seed(cfg.training.seed)
    strategy = get_strategy(cfg.training)
    t0 = time.time()
    retrieval_model = load_retrieval_model(cfg, run, data)
    prepared = prepare_ranking_inputs(cfg, run, data, retrieval_model)
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
    train_ds = make_dataset(*inputs["train"], r.batch_size, True, cfg.training.seed)
    val_ds = make_dataset(*inputs["val"], 4096, False, cfg.training.seed)
    base_config = ranking_model_config(
        cfg, data, prepared["extras"], purchase_head, inputs["train"][0]
    )

    out = run.root / "ranking"
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    models = {}
    for key, config in (
        ("model", base_config),
        ("baseline", logistic_regression_config(base_config)),
    ):
        label = "ranker" if key == "model" else "logistic-regression baseline"
        echo(f"[ranking] training the {label}")
        t1 = time.time()
        with strategy.scope():
            model = RankingModel.from_config(config)
            model.compile_default(cfg.training.steps_per_execution)
        work = out if key == "model" else out / "baseline_training"
        history = fit_ranker(model, train_ds, val_ds, work, cfg, strategy)
        save_ranking_model(model, out / key, prepared["extras"])
        best = max(history.get(VAL_METRIC, [0.0]))
        summary[key] = {
            "epochs_run": len(history.get("loss", [])),
            f"best_{VAL_METRIC}": best,
            "seconds": round(time.time() - t1, 1),
            "history": history,
        }
        echo(f"[ranking] {label}: best {VAL_METRIC} {best:.4f} ({summary[key]['seconds']} s)")
        models[key] = model
    (out / "training.json").write_text(json.dumps(summary, indent=2))
    evaluate_ranking(cfg, run, data, models["model"], models["baseline"], retrieval_model, prepared)
    # the evaluation chose each model's `retrieval_weight` on the validation searches
    for key, model in models.items():
        save_ranking_model(model, out / key, prepared["extras"])
    return models["model"]


# ------------------------------------------------------------------------------------------------
# Metrics
# ------------------------------------------------------------------------------------------------


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC (Mann-Whitney, ties counted half); NaN when only one class occurs."""
    labels = np.asarray(labels) > 0
    pos, neg = int(labels.sum()), int((~labels).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    ranks = pd.Series(np.asarray(scores, np.float64)).rank().to_numpy()
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * neg))


def log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    p = np.clip(np.asarray(probs, np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(labels, np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def gauc(labels: np.ndarray, scores: np.ndarray, groups: np.ndarray) -> float:
    """Group AUC: the AUC within each group that has both classes, averaged with the group's
    number of impressions as weight (groups with one class only are skipped)."""
    frame = pd.DataFrame({"y": labels, "s": scores, "g": groups})
    total, weight = 0.0, 0
    for _, g in frame.groupby("g", sort=False):
        value = auc(g["y"].to_numpy(), g["s"].to_numpy())
        if not np.isnan(value):
            total += value * len(g)
            weight += len(g)
    return total / weight if weight else float("nan")


def ndcg_per_instance(
    ranked: np.ndarray, positives: list[np.ndarray], gains: list[np.ndarray], k: int
) -> np.ndarray:
    """NDCG@k of every instance (the per-instance terms `ranking_metrics` averages)."""
    from tfrec.evaluation.metrics import per_instance_metrics

    return per_instance_metrics(ranked, positives, gains, [k])[f"ndcg@{k}"]


def bootstrap_interval(values: np.ndarray, reps: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the mean of per-instance `values` (paired
    differences: the instances are resampled with replacement, `reps` times)."""
    values = np.asarray(values, np.float64)
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (reps, len(values)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def bootstrap_auc_difference(
    labels: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    groups: np.ndarray,
    reps: int = 200,
    seed: int = 0,
) -> tuple[float, float, float]:
    """AUC(a) - AUC(b) on the same rows, and its 95% interval from a paired cluster bootstrap:
    whole groups (searches) are resampled with replacement, so rows of one search stay
    together (their clicks are not independent)."""
    labels = np.asarray(labels) > 0
    diff = auc(labels, a) - auc(labels, b)
    codes, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[order], np.arange(len(codes)))
    sizes = np.diff(np.append(starts, len(order)))
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(reps):
        pick = rng.integers(0, len(codes), len(codes))
        rows = order[np.repeat(starts[pick], sizes[pick]) + _ragged_offsets(sizes[pick])]
        diffs.append(auc(labels[rows], a[rows]) - auc(labels[rows], b[rows]))
    lo, hi = np.nanpercentile(diffs, [2.5, 97.5])
    return float(diff), float(lo), float(hi)


def _ragged_offsets(sizes: np.ndarray) -> np.ndarray:
    """[0..s0-1, 0..s1-1, ...] for group sizes s."""
    ends = np.cumsum(sizes)
    return np.arange(ends[-1] if len(ends) else 0) - np.repeat(ends - sizes, sizes)


def calibration_bins(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed rate in quantile bins of the prediction."""
    frame = pd.DataFrame({"y": labels, "p": probs})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), bins, labels=False)
    return frame.groupby("bin").agg(
        predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size")
    )


def ndcg_at(order_gains: list[np.ndarray], k: int) -> float:
    """Mean NDCG@k of lists of gains in ranked order (ideal = the same gains sorted)."""
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    values = []
    for gains in order_gains:
        ideal = np.sort(gains)[::-1][:k]
        idcg = float((ideal * disc[: len(ideal)]).sum())
        if idcg > 0:
            top = gains[:k]
            values.append(float((top * disc[: len(top)]).sum()) / idcg)
    return float(np.mean(values)) if values else float("nan")


# ------------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------------


def _predict(model: RankingModel, feats: dict, fixed: bool, batch_size: int = 8192) -> dict:
    outs: dict[str, list] = {}
    n = len(feats["hour"])
    for start in range(0, n, batch_size):
        chunk = {k: v[start : start + batch_size] for k, v in feats.items()}
        if fixed and "retrieval_logit" not in chunk:  # impressions: the ranker's score alone
            res = model({k: v for k, v in chunk.items() if k != "position"})
        else:
            res = model.serving_scores(chunk) if fixed else model(chunk)
        for k, v in res.items():
            outs.setdefault(k, []).append(v.numpy())
    return {k: np.concatenate(v) for k, v in outs.items()}


def classification_table(frame: pd.DataFrame, labels: dict, preds: dict[str, dict]) -> pd.DataFrame:
    rows = []
    for name, p in preds.items():
        row = {"model": name}
        for label, key in (("click", "click"), ("purchase", "purchase")):
            y = labels[label]
            row[f"{label} AUC"] = auc(y, p[key])
            row[f"{label} LogLoss"] = (
                log_loss(y, p[key]) if key == "click" or p[key].any() else float("nan")
            )
            row[f"{label} GAUC/query"] = gauc(y, p[key], frame["query"].to_numpy())
            row[f"{label} GAUC/user"] = gauc(y, p[key], frame["user_id"].to_numpy())
        rows.append(row)
    return pd.DataFrame(rows)


def position_effect_table(
    frame: pd.DataFrame, scores: dict[str, np.ndarray], judged: dict | None
) -> pd.DataFrame:
    """NDCG@10 of each test search's shown items ordered by each score, against the logged
    gains (purchase 3, add_to_cart 2, click 1) and, when judgments exist, the graded judgments."""
    gains = np.maximum.reduce([frame[k].to_numpy() * g for k, g in GAIN.items()]).astype(np.float64)
    rel = None
    if judged is not None:
        rel = np.array(
            [judged.get((q, i), 0.0) for q, i in zip(frame["query"], frame["item_id"])], np.float64
        )
    groups = frame.groupby("search_id", sort=False).indices
    rows = []
    for name, s in scores.items():
        logged, truth = [], []
        for idx in groups.values():
            order = idx[np.lexsort((frame["position"].to_numpy()[idx], -s[idx]))]
            logged.append(gains[order])
            if rel is not None and frame["query"].iat[idx[0]]:
                truth.append(rel[order])
        row = {"order": name, "NDCG@10 (logged clicks/purchases)": ndcg_at(logged, 10)}
        if rel is not None:
            row["NDCG@10 (judged relevance)"] = ndcg_at(truth, 10)
        rows.append(row)
    return pd.DataFrame(rows)


FUSION_WEIGHTS = (0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 8.0)


def _retrieve_and_score(cfg, data, retrieval_model, builder, inst, rankers) -> dict:
    """Top `ranking.candidates` per search, the retrieval logits (dot / temperature) and each
    ranker's log ordering score at the serving position."""
    from tfrec.evaluation.scorers import model_scorer
    from tfrec.core.topk import top_k

    scorer = model_scorer(data, retrieval_model)
    c = cfg.ranking.candidates
    cands, logits = [], []
    for start in range(0, len(inst), 256):
        scores = scorer(inst.iloc[start : start + 256])
        top = top_k(scores, c)
        cands.append(top)
        logits.append(np.take_along_axis(scores, top, axis=1) / cfg.retrieval.temperature)
    candidates, logits = np.concatenate(cands), np.concatenate(logits)
    q_emb = builder.query_embeddings(inst)
    hours = pd.to_datetime(inst["timestamp"]).dt.hour.to_numpy(np.int64)
    feats = builder.candidate_features(q_emb, candidates, hours, np.stack(inst["history"]))
    log_scores = {
        name: np.log(np.maximum(_predict(m, feats, fixed=True)["score"], 1e-12)).reshape(
            candidates.shape
        )
        for name, m in rankers.items()
    }
    feats["retrieval_logit"] = logits.reshape(-1).astype(np.float32)
    return {"candidates": candidates, "logits": logits, "log_scores": log_scores, "feats": feats}


def _order(candidates: np.ndarray, scores: np.ndarray) -> np.ndarray:
    return np.take_along_axis(candidates, np.argsort(-scores, axis=1, kind="stable"), axis=1)


def _instances(data: PreparedData, split: str, limit: int, seed: int) -> pd.DataFrame:
    inst = data.search_eval[split]
    if limit and len(inst) > limit:
        inst = inst.sample(limit, random_state=seed)
    return inst.reset_index(drop=True)


def end_to_end_table(
    cfg: Config,
    data: PreparedData,
    retrieval_model,
    builder: RankingFeatureBuilder,
    rankers: dict[str, RankingModel],
    judged: dict | None = None,
) -> tuple[pd.DataFrame, int]:
    """Retrieve the top `ranking.candidates` items per held-out test search with the retrieval
    model and re-rank them with each ranker (position fixed), by its ordering score alone and
    by its serving score log(score) + beta * retrieval logit (dot / temperature), beta chosen
    from `FUSION_WEIGHTS` by NDCG@10 on the validation searches and set as the ranker's
    `retrieval_weight` (saved with it). NDCG@10, Recall@10, MRR and purchase
    Recall@10 (logged gains) and, with judgments, NDCG@10 of the judged relevance, next to the
    retrieval order alone."""
    from tfrec.evaluation.metrics import ranking_metrics

    limit = cfg.ranking.max_eval_searches
    test = _instances(data, "test", limit, cfg.seed)
    if test.empty:
        return pd.DataFrame(), 0
    val = _instances(data, "val", limit, cfg.seed)
    betas = {name: 0.0 for name in rankers}
    if not val.empty:
        v = _retrieve_and_score(cfg, data, retrieval_model, builder, val, rankers)
        pos, gains = list(val["positives"]), list(val["gains"])
        for name in rankers:
            ndcg = {
                b: ranking_metrics(
                    _order(v["candidates"], v["log_scores"][name] + b * v["logits"]),
                    pos,
                    gains,
                    [10],
                )["ndcg@10"]
                for b in FUSION_WEIGHTS
            }
            betas[name] = max(ndcg, key=ndcg.get)
    for name, model in rankers.items():
        model.retrieval_weight = float(betas[name])
    t = _retrieve_and_score(cfg, data, retrieval_model, builder, test, rankers)
    candidates = t["candidates"]
    orders = {"retrieval only": candidates}
    for name, model in rankers.items():
        orders[f"retrieval + {name} score alone"] = _order(candidates, t["log_scores"][name])
        serving = _predict(model, t["feats"], fixed=True)["serving_score"]
        orders[f"retrieval + {name} serving score (beta {betas[name]:g} from val)"] = _order(
            candidates, serving.reshape(candidates.shape)
        )
    positives, gains = list(test["positives"]), list(test["gains"])
    bought = [(p[g >= 3], g[g >= 3]) for p, g in zip(positives, gains)]
    rows_p = [i for i, (p, _) in enumerate(bought) if len(p)]
    rows = []
    per_search: dict[str, dict[str, np.ndarray]] = {}
    for name, ranked in orders.items():
        m = ranking_metrics(ranked, positives, gains, [10])
        row = {"order": name, "NDCG@10": m["ndcg@10"], "Recall@10": m["recall@10"], "MRR": m["mrr"]}
        per_search[name] = {"NDCG@10": ndcg_per_instance(ranked, positives, gains, 10)}
        if rows_p:
            mp = ranking_metrics(
                ranked[rows_p], [bought[i][0] for i in rows_p], [bought[i][1] for i in rows_p], [10]
            )
            row["purchase Recall@10"] = mp["recall@10"]
        if judged is not None:
            rel = [
                np.array([judged.get((q, data.catalog.item_ids[i]), 0.0) for i in r], np.float64)
                for q, r in zip(test["query"], ranked)
            ]
            row["NDCG@10 (judged)"] = ndcg_at(rel, 10)
            per_search[name]["NDCG@10 (judged)"] = np.array(
                [ndcg_at([r], 10) for r in rel], np.float64
            )
        rows.append(row)
    c = cfg.ranking.candidates
    table = pd.DataFrame(rows)
    table.attrs["recall_at_candidates"] = ranking_metrics(candidates, positives, gains, [c])[
        f"recall@{c}"
    ]
    table.attrs["purchase_searches"] = len(rows_p)
    table.attrs["fusion_weights"] = betas
    table.attrs["per_search"] = per_search
    return table, len(test)


def significance_table(
    frame: pd.DataFrame, labels: dict, preds: dict[str, dict], e2e: pd.DataFrame, seed: int
) -> pd.DataFrame:
    """The comparisons the ranking stage is judged by, each as a difference with its 95%
    paired-bootstrap interval over test searches: the ranker's click and purchase AUC minus the
    logistic regression's (same impressions, logged position), and the NDCG@10 of retrieval
    then the ranker's serving score minus retrieval alone and minus retrieval then the logistic
    regression's serving score. An interval above 0 is a win beyond test-sample noise (it does
    not cover the spread between training seeds)."""
    groups = frame["search_id"].to_numpy()
    ranker, lr = preds["ranker"], preds["logistic regression"]
    rows = []
    for label in ("click", "purchase"):
        d, lo, hi = bootstrap_auc_difference(
            labels[label], ranker[label], lr[label], groups, seed=seed
        )
        rows.append(
            {
                "comparison": f"{label} AUC: ranker - logistic regression",
                "difference": d,
                "95% low": lo,
                "95% high": hi,
            }
        )
    per_search = e2e.attrs.get("per_search", {})

    def order(prefix: str) -> str | None:
        return next((n for n in per_search if n.startswith(prefix)), None)

    base = order("retrieval only")
    ranked = order("retrieval + ranker serving score")
    lr_name = order("retrieval + logistic regression serving score")
    if base and ranked and lr_name:
        for metric in per_search[base]:
            for other, what in ((base, "retrieval alone"), (lr_name, "retrieval + LR")):
                diff = per_search[ranked][metric] - per_search[other][metric]
                diff = diff[~np.isnan(diff)]
                lo, hi = bootstrap_interval(diff, seed=seed)
                rows.append(
                    {
                        "comparison": f"{metric}: retrieval + ranker - {what}",
                        "difference": float(diff.mean()) if len(diff) else float("nan"),
                        "95% low": lo,
                        "95% high": hi,
                    }
                )
    return pd.DataFrame(rows)


def _judgments(run: RunDir) -> dict | None:
    path = run.clean / "judgments.parquet"
    if not path.exists():
        return None
    j = pd.read_parquet(path)
    return {
        (str(q).strip(), i): float(r) for q, i, r in zip(j["query"], j["item_id"], j["relevance"])
    }


def _calibration_png(curves: dict[str, pd.DataFrame]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    top = max(max(c["predicted"].max(), c["observed"].max()) for c in curves.values())
    ax.plot([0, top], [0, top], color="#999", linestyle="--", label="perfect")
    for name, c in curves.items():
        ax.plot(c["predicted"], c["observed"], marker="o", label=name)
    ax.set_xlabel("mean predicted p(click)")
    ax.set_ylabel("observed click rate")
    ax.set_title("Calibration, test impressions (10 quantile bins)")
    ax.grid(alpha=0.3)
    ax.legend()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _print(title: str, table: pd.DataFrame) -> None:
    with pd.option_context(
        "display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4f}".format
    ):
        echo(f"[ranking] {title}")
        echo(table.to_string(index=False))


def evaluate_ranking(
    cfg: Config,
    run: RunDir,
    data: PreparedData,
    model: RankingModel,
    baseline: RankingModel,
    retrieval_model,
    prepared: dict,
) -> dict:
    """Test-split metrics of the ranker next to the logistic-regression baseline; prints the
    tables, merges `ranking` into metrics.json and writes report/ranking.html."""


    frame = prepared["frames"]["test"]
    feats, labels = prepared["inputs"]["test"]
    preds_logged = {
        "ranker": _predict(model, feats, False),
        "logistic regression": _predict(baseline, feats, False),
    }
    preds_fixed = {
        "ranker": _predict(model, feats, True),
        "logistic regression": _predict(baseline, feats, True),
    }
    cls = classification_table(
        frame,
        labels,
        {
            "ranker (logged position)": preds_logged["ranker"],
            "logistic regression (logged position)": preds_logged["logistic regression"],
            "ranker (position fixed to 1)": preds_fixed["ranker"],
            "logistic regression (position fixed to 1)": preds_fixed["logistic regression"],
        },
    )
    pos_scores = {
        "logged order (the engine's)": -frame["position"].to_numpy(np.float64),
        "ranker score at logged position": preds_logged["ranker"]["score"],
        "ranker score at position 1": preds_fixed["ranker"]["score"],
        "LR score at logged position": preds_logged["logistic regression"]["score"],
        "LR score at position 1": preds_fixed["logistic regression"]["score"],
    }
    judged = _judgments(run)
    pos_table = position_effect_table(frame, pos_scores, judged)
    e2e, n_searches = end_to_end_table(
        cfg,
        data,
        retrieval_model,
        prepared["builder"],
        {"ranker": model, "logistic regression": baseline},
        judged,
    )
    sig = significance_table(frame, labels, preds_logged, e2e, cfg.seed)
    _print(f"test impressions ({len(frame)}): click and purchase prediction", cls)
    _print("position effect: shown items of each test search re-ordered", pos_table)
    if n_searches:
        _print(
            f"end to end: top {cfg.ranking.candidates} retrieved per held-out test search "
            f"({n_searches} searches, {e2e.attrs['purchase_searches']} with a purchase; "
            f"Recall@{cfg.ranking.candidates} of the candidates "
            f"{e2e.attrs['recall_at_candidates']:.4f}), re-ranked at position 1",
            e2e,
        )
    _print(
        "the ranker against its baselines: differences with 95% paired-bootstrap intervals "
        "over test searches",
        sig,
    )
    calib = {
        "ranker": calibration_bins(labels["click"], preds_logged["ranker"]["click"]),
        "logistic regression": calibration_bins(
            labels["click"], preds_logged["logistic regression"]["click"]
        ),
    }
    metrics = {
        "ranking": {
            "test_impressions": len(frame),
            "purchase_head": bool(model.purchase_head),
            "score": "p_click * (1 + w * p_purchase_given_click), w = "
            f"{model.purchase_score_weight}",
            "classification": cls.to_dict(orient="records"),
            "position_effect": pos_table.to_dict(orient="records"),
            "significance": sig.to_dict(orient="records"),
            "end_to_end": {
                "searches": n_searches,
                "candidates": cfg.ranking.candidates,
                "recall_at_candidates": e2e.attrs.get("recall_at_candidates"),
                "fusion_weights_from_val": e2e.attrs.get("fusion_weights"),
                "rows": e2e.to_dict(orient="records"),
            },
            "calibration": {k: v.reset_index().to_dict(orient="records") for k, v in calib.items()},
        }
    }
    run.metrics.parent.mkdir(parents=True, exist_ok=True)
    run.save_metrics(metrics)
    path = write_ranking_report(cfg, run, cls, pos_table, e2e, n_searches, calib, sig)
    echo(f"[ranking] metrics in {run.metrics}, report in {path}")
    return metrics


def write_ranking_report(cfg, run, cls, pos_table, e2e, n_searches, calib, sig) -> Path:
    """report/ranking.html: the tables and the calibration plot."""

    def table(t: pd.DataFrame) -> str:
        return t.to_html(index=False, float_format=lambda v: f"{v:.4f}", border=0)

    r = cfg.ranking
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>tfrec ranking: {html.escape(cfg.name)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}th{background:#f4f4f4}td:first-child{text-align:left}</style></head><body>",
        f"<h1>tfrec ranking: {html.escape(cfg.name)}</h1>",
        "<p>"
        + html.escape(
            f"DCN-v2 ranker ({r.cross_layers} cross layers, projection_dim {r.projection_dim}, deep "
            f"{r.deep_layers}, {r.structure}) over the frozen retrieval towers' embeddings, their dot "
            "product, item and context features; logistic regression = the same features and heads "
            "with no cross and no deep layers. Ordering score = p_click * (1 + "
            f"{r.purchase_score_weight} * p_purchase_given_click). Position enters as an additive "
            "click logit during training and is fixed to 1 when ranking."
        )
        + "</p>",
        "<h2>Click and purchase prediction, test impressions</h2>",
        "<p>GAUC = AUC within each query (or user) that has both classes, weighted by impressions. "
        "Purchase probability = p_click * p_purchase_given_click.</p>",
        table(cls),
        f"<img alt='calibration' src='data:image/png;base64,{_calibration_png(calib)}'>",
        "<h2>Position effect</h2>",
        "<p>The shown items of every test search, re-ordered by each score. Scored at their logged "
        "position, the ranker reuses the engine's order through the position logit; at position 1 "
        "it orders by learnt attractiveness alone (what serving does).</p>",
        table(pos_table),
    ]
    if n_searches:
        parts += [
            "<h2>End to end: retrieval then ranking, held-out test searches</h2>",
            "<p>"
            + html.escape(
                f"{n_searches} searches; top {r.candidates} candidates from the retrieval model "
                f"(Recall@{r.candidates} {e2e.attrs['recall_at_candidates']:.4f}), re-ranked."
            )
            + "</p>",
            table(e2e),
        ]
    if not sig.empty:
        parts += [
            "<h2>The ranker against its baselines, with 95% intervals</h2>",
            "<p>Differences on the test set with 95% paired-bootstrap intervals over test "
            "searches (AUC: searches resampled as clusters). An interval above 0 is a win beyond "
            "the noise of the test sample; it does not cover the spread between training seeds."
            "</p>",
            table(sig),
        ]
    parts.append("</body></html>")
    run.report.mkdir(parents=True, exist_ok=True)
    path = run.report / "ranking.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------
# Benchmark
# ------------------------------------------------------------------------------------------------


def ranking_benchmark(cfg: Config, sizes: tuple[int, ...] = (100, 500, 1000)) -> dict:
    """Candidates scored per second by the ranker and by the logistic-regression baseline (same
    features, same serving path), per request size, and their ratio, measured in one run.

    Uses the run's trained models when `tfrec train ranking` has saved them; otherwise models
    of the configured architecture with fresh weights (throughput does not depend on weights)."""
    from tfrec.models.ranking import ranking_throughput

    out_dir = RunDir(cfg.run_path).root / "ranking"
    if (out_dir / "model" / "model.json").exists() and (
        out_dir / "baseline" / "model.json"
    ).exists():
        ranker, _ = load_ranking_model(out_dir / "model")
        baseline, _ = load_ranking_model(out_dir / "baseline")
        source = f"trained models in {out_dir}"
    else:
        config = {
            "category_vocab_sizes": [11, 24, 56],
            "brand_vocab_size": 120,
            "num_price_buckets": cfg.retrieval.price_buckets + 2,
            "num_items": 2001,
            **architecture_config(cfg.ranking),
        }
        ranker = RankingModel.from_config(config)
        baseline = RankingModel.from_config(logistic_regression_config(ranker.get_config()))
        for m in (ranker, baseline):
            m(random_candidates(m, 2, cfg.retrieval.embedding_dim))
        source = f"untrained models of the configured architecture ({out_dir} has none)"
    echo(f"[bench] ranking throughput, serving path (position fixed), {source}")
    rows = []
    for n in sizes:
        lr = ranking_throughput(baseline, n)
        dcn = ranking_throughput(ranker, n)
        rows.append(
            {
                "candidates per request": n,
                "ranker candidates/s": dcn,
                "logistic regression candidates/s": lr,
                "ranker / LR": dcn / lr,
            }
        )
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.float_format", "{:,.2f}".format):
        echo(table.to_string(index=False))
    return {"source": source, "rows": table.to_dict(orient="records")}
