"""Training rankers on graded judgments: the listwise ranker and the BERT cross-encoder.

`train_judgment_rankers` (the ranking stage calls it when the run has judgments):

1. judged queries split by query into train / val / test (`split_judged_queries`, seeded by
   `seed`): the rankers never see a test query;
2. the listwise ranker (`ranking.judgment_model` `listwise` or `both`): training lists are each
   training query's judged items plus the unjudged items among its top
   `ranking.judgment_candidates` retrieved (relevance 0); `ListwiseSoftmaxLoss`, Adam, early
   stopping on the validation lists' loss (best weights restored);
3. the cross-encoder (`cross_encoder` or `both`): lists are the top
   `ranking.cross_encoder_candidates` retrieved of `ranking.cross_encoder_train_queries`
   training queries (the pairs it will score at test time), labelled from the judgments; same
   loss, `ranking.cross_encoder_epochs` epochs.

Both are saved under `ranking/judgments/` (`model.json` + weights); neither is exported.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf
import tf_keras as keras

from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.data.prepared import PreparedData
from tfrec.models.cross_encoder import CrossEncoder
from tfrec.models.listwise import PAD_LABEL, ListwiseRanker
from tfrec.training.judgment_lists import (
    JudgmentListBuilder,
    JudgmentLists,
    clean_judgments,
    listwise_dataset,
    split_judged_queries,
)


def judgment_models(choice: str) -> tuple[str, ...]:
    """The models `ranking.judgment_model` trains: `listwise`, `cross_encoder` or both.

    Example:
        >>> judgment_models("both")
        ('listwise', 'cross_encoder')
    """
    return ("listwise", "cross_encoder") if choice == "both" else (choice,)


def train_listwise(
    cfg: Config, builder: JudgmentListBuilder, train: JudgmentLists, val: JudgmentLists
) -> tuple[ListwiseRanker, dict]:
    """Fit a `ListwiseRanker` on `train` lists with early stopping on `val` lists' loss.

    Args:
        cfg: the run's config (`ranking.judgment_*`, `training.seed`, `training.fit_verbose`).
        builder: JudgmentListBuilder. Embeddings and the catalog's item features.
        train: JudgmentLists. Training lists (each with a relevant item).
        val: JudgmentLists. Validation lists.

    Returns:
        (model with the best validation epoch's weights, history).

    Example:
        >>> model, history = train_listwise(cfg, builder, train, val)  # doctest: +SKIP
    """
    r, c = cfg.ranking, builder.data.catalog
    model = ListwiseRanker(
        [len(v) for v in c.category_vocabs],
        len(c.brand_vocab),
        len(c.price_boundaries) + 2,
        list_feature_names=train.feature_names,
        hidden_layers=list(r.judgment_hidden_layers),
        learning_rate=r.judgment_learning_rate,
        name="listwise_ranker",
    )
    model.compile_default()
    seed = cfg.training.seed
    history = model.fit(
        listwise_dataset(train, builder, r.judgment_batch_size, shuffle=True, seed=seed),
        validation_data=listwise_dataset(val, builder, 256),
        epochs=r.judgment_epochs,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=r.judgment_patience, restore_best_weights=True
            )
        ],
        verbose=cfg.training.fit_verbose,
    )
    return model, {k: [float(x) for x in v] for k, v in history.history.items()}


def listwise_scores(model: ListwiseRanker, builder: JudgmentListBuilder, lists) -> np.ndarray:
    """The model's score of every list item [n, L] (-1e9 at padding).

    Example:
        >>> scores = listwise_scores(model, builder, builder.candidate_lists(test, 50))  # doctest: +SKIP
    """
    out = [
        model(x, training=False).numpy()
        for x in listwise_dataset(lists, builder, 256, labels=False)
    ]
    return np.concatenate(out) if out else np.zeros(lists.items.shape, np.float32)


def pair_texts(data: PreparedData, lists: JudgmentLists) -> dict[str, np.ndarray]:
    """`query` and `title` string arrays [n, L] of lists' (query, item) pairs."""
    titles = np.asarray(data.catalog.titles, dtype=object)
    query = np.repeat(np.asarray(lists.queries, dtype=object)[:, None], lists.items.shape[1], 1)
    return {"query": query.astype(str), "title": titles[lists.items].astype(str)}


def train_cross_encoder(
    cfg: Config, builder: JudgmentListBuilder, queries: list[str]
) -> tuple[CrossEncoder, dict]:
    """Fit a `CrossEncoder` on the top `ranking.cross_encoder_candidates` retrieved of up to
    `ranking.cross_encoder_train_queries` of `queries` (lists with no relevant item are left
    out: they carry no gradient).

    Example:
        >>> model, history = train_cross_encoder(cfg, builder, split["train"])  # doctest: +SKIP
    """
    r = cfg.ranking
    rng = np.random.default_rng(cfg.seed)
    pick = rng.permutation(len(queries))[: r.cross_encoder_train_queries]
    lists = builder.candidate_lists([queries[i] for i in sorted(pick)], r.cross_encoder_candidates)
    keep = (lists.relevance > 0).any(axis=1)
    texts = pair_texts(builder.data, lists)
    echo(
        f"[ranking] cross-encoder: {int(keep.sum())} training lists of "
        f"{r.cross_encoder_candidates} pairs ({len(lists) - int(keep.sum())} with no relevant "
        f"item among the top {r.cross_encoder_candidates} left out), {r.cross_encoder_epochs} "
        f"epoch(s), top {r.cross_encoder_trainable_layers} BERT layers trained, max_length "
        f"{r.cross_encoder_max_length}"
    )
    model = CrossEncoder(
        cfg.text.checkpoint,
        max_length=r.cross_encoder_max_length,
        query_length=r.cross_encoder_query_length,
        trainable_layers=r.cross_encoder_trainable_layers,
        pooling=cfg.text.pooling,
        learning_rate=r.cross_encoder_learning_rate,
        name="cross_encoder",
    )
    model.compile_default()
    ds = tf.data.Dataset.from_tensor_slices(
        ({k: v[keep] for k, v in texts.items()}, lists.relevance[keep])
    )
    ds = ds.shuffle(int(keep.sum()) or 1, seed=cfg.training.seed).batch(r.cross_encoder_batch_lists)
    history = model.fit(ds, epochs=r.cross_encoder_epochs, verbose=cfg.training.fit_verbose)
    return model, {k: [float(x) for x in v] for k, v in history.history.items()}


def cross_encoder_scores(
    model: CrossEncoder, data: PreparedData, lists: JudgmentLists, batch_lists: int = 8
) -> np.ndarray:
    """The cross-encoder's score of every (query, item) of `lists` [n, L].

    Example:
        >>> scores = cross_encoder_scores(model, data, builder.candidate_lists(test, 20))  # doctest: +SKIP
    """
    texts = pair_texts(data, lists)

    @tf.function
    def score(x):
        return model(x, training=False)

    out = []
    for start in range(0, len(lists), batch_lists):
        chunk = {k: tf.constant(v[start : start + batch_lists]) for k, v in texts.items()}
        out.append(score(chunk).numpy())
    return np.concatenate(out) if out else np.zeros(lists.items.shape, np.float32)


def save_judgment_model(model: keras.Model, out: Path, meta: dict | None = None) -> None:
    """`out/model.json` (the model's class, config and `meta`) and `out/weights`.

    Example:
        >>> save_judgment_model(model, run.judgment_ranker)  # doctest: +SKIP
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"class": type(model).__name__, "config": model.get_config(), **(meta or {})}
    (out / "model.json").write_text(json.dumps(doc, indent=2))
    model.save_weights(str(out / "weights"))


def load_judgment_model(path: Path, example_inputs: dict) -> keras.Model:
    """A model `save_judgment_model` wrote, built on `example_inputs` and its weights restored.

    Example:
        >>> model = load_judgment_model(run.judgment_ranker, next(iter(ds)))  # doctest: +SKIP
    """
    meta_path = Path(path) / "model.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{meta_path} does not exist: train first (the ranking stage)")
    doc = json.loads(meta_path.read_text())
    classes = {"ListwiseRanker": ListwiseRanker, "CrossEncoder": CrossEncoder}
    if doc.get("class") not in classes:
        raise ValueError(f"{meta_path}: unknown model class {doc.get('class')!r}")
    model = classes[doc["class"]].from_config(doc["config"])
    model(example_inputs)
    model.load_weights(str(Path(path) / "weights")).expect_partial()
    return model


@dataclass
class TrainedJudgmentRankers:
    """What `train_judgment_rankers` hands to the evaluation.

    Args:
        split: dict. `train`, `val`, `test` -> judged queries (disjoint).
        builder: JudgmentListBuilder. Embeddings, candidates and lists of the judged queries.
        listwise: ListwiseRanker or None. The listwise ranker, when trained.
        cross_encoder: CrossEncoder or None. The cross-encoder, when trained.
        summary: dict. Sizes, epochs, seconds and histories per model.
    """

    split: dict
    builder: JudgmentListBuilder
    listwise: ListwiseRanker | None = None
    cross_encoder: CrossEncoder | None = None
    summary: dict = field(default_factory=dict)


def train_judgment_rankers(
    cfg: Config,
    run: RunDir,
    data: PreparedData,
    retrieval_model,
    judgments: pd.DataFrame,
    pair_scorers: dict | None = None,
) -> TrainedJudgmentRankers:
    """Split the judged queries, train the configured judgment rankers and save them.

    Args:
        cfg: the run's config (`ranking.judgment_*`, `ranking.cross_encoder_*`, `seed`).
        run: RunDir. Where the models go (`judgment_ranker`, `cross_encoder`).
        data: PreparedData. The run's prepared data.
        retrieval_model: the trained `RetrievalModel` (frozen: its towers are features).
        judgments: pd.DataFrame. The clean judgments table.
        pair_scorers: dict or None. Name -> per-pair scorer for the listwise ranker's list
            features (`ranking.judgment_features`: BM25, zero-shot).

    Example:
        >>> trained = train_judgment_rankers(cfg, run, data, model, judgments, scorers)  # doctest: +SKIP
        >>> len(trained.split["test"])  # doctest: +SKIP
        500
    """
    r = cfg.ranking
    t0 = time.time()
    judged = clean_judgments(judgments, data)
    split = split_judged_queries(
        judged["query"],
        r.judgment_val_fraction,
        r.judgment_test_fraction,
        cfg.seed,
        r.judgment_max_train_queries,
        r.judgment_max_eval_queries,
    )
    used = set().union(*split.values())
    builder = JudgmentListBuilder(
        cfg, data, retrieval_model, judged[judged["query"].isin(used)], pair_scorers
    )
    echo(
        f"[ranking] judgments: {judged['query'].nunique()} judged queries with a relevant item "
        f"({len(judged)} judgments); split by query, seed {cfg.seed}: "
        + ", ".join(f"{k} {len(v)}" for k, v in split.items())
        + f" (caps {r.judgment_max_train_queries or 'none'} / {r.judgment_max_eval_queries or 'none'})"
        f"; embeddings in {time.time() - t0:.1f} s"
    )
    trained = TrainedJudgmentRankers(split, builder)
    trained.summary["queries"] = {k: len(v) for k, v in split.items()}
    models = judgment_models(r.judgment_model)
    if "listwise" in models:
        t1 = time.time()
        train = builder.training_lists(
            split["train"], r.judgment_candidates, r.judgment_max_judged, cfg.seed
        )
        val = builder.training_lists(
            split["val"], r.judgment_candidates, r.judgment_max_judged, cfg.seed + 1
        )
        width = int((train.relevance > PAD_LABEL / 2).sum(axis=1).mean()) if len(train) else 0
        echo(
            f"[ranking] listwise ranker: {len(train)} training lists (judged items, up to "
            f"{r.judgment_max_judged}, + unjudged of the top {r.judgment_candidates} retrieved "
            f"as relevance 0; {width} items on average), list features "
            f"{', '.join(train.feature_names)}; softmax cross-entropy, MLP "
            f"{list(r.judgment_hidden_layers)}, up to {r.judgment_epochs} epochs"
        )
        tf.keras.utils.set_random_seed(cfg.training.seed)
        trained.listwise, history = train_listwise(cfg, builder, train, val)
        save_judgment_model(trained.listwise, run.judgment_ranker)
        trained.summary["listwise"] = {
            "train_lists": len(train),
            "mean_list_length": width,
            "epochs_run": len(history.get("loss", [])),
            "best_val_loss": min(history.get("val_loss", [float("nan")])),
            "seconds": round(time.time() - t1, 1),
            "history": history,
        }
        echo(f"[ranking] listwise ranker trained in {trained.summary['listwise']['seconds']} s")
    if "cross_encoder" in models:
        t1 = time.time()
        tf.keras.utils.set_random_seed(cfg.training.seed)
        trained.cross_encoder, history = train_cross_encoder(cfg, builder, split["train"])
        save_judgment_model(trained.cross_encoder, run.cross_encoder)
        trained.summary["cross_encoder"] = {
            "seconds": round(time.time() - t1, 1),
            "history": history,
        }
        echo(f"[ranking] cross-encoder trained in {trained.summary['cross_encoder']['seconds']} s")
    return trained
