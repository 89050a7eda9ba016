"""A tiny ranking setup for the ranker's tests: tests/tiny_shop.py data with purchases and two
extra item features, a 16-dim retrieval model with random text tables (no BERT), its
`RankingFeatureBuilder`, and small rankers over those features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.config import Config, SplitConfig
from tfrec.data.prepared import prepare_data
from tfrec.data.ranking_examples import (
    HISTORY_FEATURES,
    ExtraFeatureEncoder,
    ranking_frame,
    ranking_queries,
)
from tfrec.models.ranking import RankingModel
from tfrec.models.ranking_features import RankingFeatureBuilder
from tfrec.models.retrieval import build_retrieval_model

SPLIT = SplitConfig(test_days=5, val_days=5)


def with_purchases(events, share=0.5, seed=0):
    """Every other click (by a fixed draw) is followed by a purchase in the same search."""
    rng = np.random.default_rng(seed)
    clicks = events[events.event == "click"]
    bought = clicks[rng.random(len(clicks)) < share].copy()
    bought["event"] = "purchase"
    bought["timestamp"] = bought["timestamp"] + pd.Timedelta(seconds=30)
    return pd.concat([events, bought], ignore_index=True)


def ranking_shop():
    """(items, events) of the tiny shop, items with `rating` and `colour`, events with purchases."""
    items, events = make_shop()
    items["rating"] = np.linspace(1, 5, len(items))
    items["colour"] = [["red", "blue", None][i % 3] for i in range(len(items))]
    return items, with_purchases(events)


def ranking_data(shop):
    return prepare_data(*shop, SPLIT)


def feature_builder(data, shop) -> RankingFeatureBuilder:
    """The builder over a tiny frozen-mode retrieval model, extras `rating` and `colour`."""
    cfg = Config()
    cfg.retrieval.embedding_dim = 16
    cfg.retrieval.projection_layers = [32]
    cfg.retrieval.id_embedding_dim = 8
    rng = np.random.default_rng(0)
    queries = ranking_queries(data)
    item_text = rng.normal(size=(len(data.catalog), 16)).astype("float32")
    query_text = rng.normal(size=(len(queries), 16)).astype("float32")
    item_text[0] = query_text[0] = 0
    tf.keras.utils.set_random_seed(0)
    retrieval = build_retrieval_model(cfg, data, item_text, query_text[: len(data.queries)])
    kinds = {"rating": "numeric", "colour": "categorical"}
    train = ranking_frame(
        data, "train", queries, events=shop[1], items=shop[0], extra_features=kinds
    )
    extras = ExtraFeatureEncoder.fit(train, kinds)
    return RankingFeatureBuilder(data, retrieval, queries, query_text, extras, items=shop[0])


def frame_inputs(builder, split="train"):
    """(frame, features, labels) of a split's impressions."""
    kinds = builder.extras.kinds
    frame = ranking_frame(
        builder.data, split, builder.queries, events=None, items=builder.items, extra_features=kinds
    )
    return frame, *builder.frame_features(frame)


def small_ranker(builder, **overrides):
    """A compiled small `RankingModel` over the builder's features."""
    c = builder.data.catalog
    e = builder.extras
    _, feats, _ = frame_inputs(builder)
    numeric = [*HISTORY_FEATURES, *e.numeric]
    config = dict(
        category_vocab_sizes=[len(v) for v in c.category_vocabs],
        brand_vocab_size=len(c.brand_vocab),
        num_price_buckets=len(c.price_boundaries) + 2,
        feature_dim=4,
        cross_layers=1,
        projection_dim=4,
        deep_layers=[16],
        max_position=5,
        numeric_features=numeric,
        numeric_means=[float(feats[n].mean()) for n in numeric],
        numeric_stds=[float(feats[n].std()) or 1.0 for n in numeric],
        categorical_features=e.categorical_sizes,
        learning_rate=0.01,
        num_items=len(c),
        item_id_dim=4,
    )
    config.update(overrides)
    model = RankingModel(**config)
    model.compile_default()
    return model


# module-scoped fixtures of the tiny ranking shop; a test module imports them by name
@pytest.fixture(scope="module")
def shop():
    return ranking_shop()


@pytest.fixture(scope="module")
def data(shop):
    return ranking_data(shop)


@pytest.fixture(scope="module")
def builder(data, shop):
    return feature_builder(data, shop)
