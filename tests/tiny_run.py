"""A tiny trained run for export, index and serving tests: tests/tiny_shop.py data, the tiny
BERT checkpoint as the text encoder, a 16-dim two-tower model trained for one epoch."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.config import Config, SplitConfig
from tfrec.core.rundir import RunDir
from tfrec.data.datasets import retrieval_dataset
from tfrec.data.prepared import prepare_data
from tfrec.index.scann_index import ItemIndex
from tfrec.models.retrieval import build_retrieval_model
from tfrec.text.frozen import frozen_text_tables, make_text_encoder
from tfrec.training.retrieval import save_retrieval_model


def tiny_config(root: Path, bert_dir: Path) -> Config:
    cfg = Config(name="tiny", run_dir=str(root / "run"))
    cfg.text.checkpoint = str(bert_dir)
    cfg.text.cache_dir = str(root / "cache")
    cfg.text.max_length = 16
    cfg.retrieval.embedding_dim = 16
    cfg.retrieval.projection_layers = [32]
    cfg.retrieval.id_embedding_dim = 8
    cfg.data.split = SplitConfig(test_days=5, val_days=5)
    cfg.export.max_k = 50
    cfg.index.eval_queries = 50
    return cfg


def tiny_synthetic_config(tmp_path: Path, bert_dir: Path, name: str) -> Config:
    """A small synthetic shop with searches, the tiny BERT, one epoch: the benches' run."""
    cfg = Config(name=name)
    syn = cfg.data.synthetic
    syn.num_items, syn.num_users, syn.num_days, syn.sessions_per_user = 150, 120, 20, 4.0
    cfg.data.split = SplitConfig(test_days=4, val_days=3)
    cfg.text.checkpoint = str(bert_dir)
    cfg.text.cache_dir = str(tmp_path / "cache")
    cfg.text.max_length = 16
    cfg.retrieval.embedding_dim = 16
    cfg.retrieval.projection_layers = [32]
    cfg.retrieval.epochs = 1
    cfg.retrieval.batch_size = 64
    cfg.training.verbose = 0
    return cfg


# config-declared extra item features of `make_tiny_run(..., extra_features=True)`
EXTRA_FEATURES = {"material": "categorical", "rating": "numeric", "origin": "text"}


def make_tiny_run(root: Path, bert_dir: Path, extra_features: bool = False):
    """(cfg, run, data, model, index) of a trained tiny run whose clean tables and weights are
    on disk (so `load_prepared` and `load_retrieval_model` work on it); with `extra_features`
    the items also carry the columns of `EXTRA_FEATURES`, declared in the config."""
    cfg = tiny_config(root, bert_dir)
    run = RunDir(cfg.run_path)
    items, events = make_shop()
    if extra_features:
        items["material"] = ["cotton", "steel", None] * (len(items) // 3)
        items["rating"] = [1.0 + (i % 9) / 2 if i % 7 else None for i in range(len(items))]
        items["origin"] = ["Made in Portugal" if i % 2 else "" for i in range(len(items))]
        cfg.data.item_features = dict(EXTRA_FEATURES)
    run.clean.mkdir(parents=True, exist_ok=True)
    items.to_parquet(run.clean / "items.parquet", index=False)
    events.to_parquet(run.clean / "events.parquet", index=False)
    data = prepare_data(
        items, events, cfg.data.split, cfg.retrieval.price_buckets, cfg.data.item_features
    )
    encoder = make_text_encoder(cfg, mode="frozen")
    tf.keras.utils.set_random_seed(0)
    model = build_retrieval_model(cfg, data, *frozen_text_tables(cfg, data, encoder))
    model.fit(retrieval_dataset(data, "train", batch_size=32), epochs=1, verbose=0)
    save_retrieval_model(model, run)
    model.attach_text_encoder(encoder)
    index = ItemIndex.build(model.all_item_embeddings()[1:], data.catalog.item_ids[1:], cfg.index)
    return cfg, run, data, model, index


def make_tiny_ranker(cfg, run, data, model, retrieval_weight: float = 0.5):
    """A tiny ranker trained for a few steps on random candidates of the tiny run (features
    from `RankingFeatureBuilder`, random labels), saved as runs' `ranking/model`; returns it.
    `retrieval_weight` is set so the serving score uses the retrieval logit too."""
    import numpy as np

    from tfrec.data.ranking_examples import ranking_queries
    from tfrec.models.ranking import RankingModel
    from tfrec.models.ranking_features import RankingFeatureBuilder, make_dataset
    from tfrec.training.ranking_io import ranking_model_config, save_ranking_model

    rng = np.random.default_rng(0)
    builder = RankingFeatureBuilder(data, model, ranking_queries(data))
    n, c = 16, 8
    dim = builder.item_embeddings.shape[1]
    q_emb = rng.normal(size=(n, dim)).astype(np.float32)
    cands = rng.integers(1, len(data.catalog), size=(n, c))
    hist = rng.integers(0, len(data.catalog), size=(n, 3))
    feats = builder.candidate_features(q_emb, cands, rng.integers(0, 24, n), hist)
    feats["position"] = rng.integers(1, 10, n * c).astype(np.int64)
    labels = {
        "click": (rng.random(n * c) < 0.3).astype(np.float32),
        "purchase": (rng.random(n * c) < 0.1).astype(np.float32),
    }
    cfg.ranking.deep_layers = [16]
    cfg.ranking.cross_layers = 1
    config = ranking_model_config(cfg, data, None, True, feats)
    config["retrieval_weight"] = retrieval_weight
    tf.keras.utils.set_random_seed(0)
    ranker = RankingModel.from_config(config)
    ranker.compile_default()
    ranker.fit(make_dataset(feats, labels, 32, False, 0), epochs=1, verbose=0)
    save_ranking_model(ranker, run.ranker)
    return ranker
