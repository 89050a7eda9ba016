"""Fixtures for the shop capabilities: a hand-made 7-item context with known embeddings and
co-occurrences, and a tiny trained two-tower model on tests/tiny_shop.py data."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.shop.context import ShopContext
from tfrec.shop.cooccurrence import CoCounts


def hand_context(query_encoder=None) -> ShopContext:
    """Items 1..7: 1, 2, 3 are mugs (leaf A>B>C, brand 1), 4, 5 are kettles (A>B>D), 6 a lamp
    (E>F>G), 7 a tent (E>F>H). Sessions: 1 with 4 (x3), 1 with 2 (x5), 1 with 6 (x1)."""
    n = 8
    emb = np.zeros((n, 4), np.float32)
    emb[1:4] = [[1, 0.1, 0, 0], [1, 0.2, 0, 0], [1, 0, 0.2, 0]]
    emb[4:6] = [[0, 1, 0, 0], [0.1, 1, 0, 0]]
    emb[6] = [0, 0, 1, 0]
    emb[7] = [0, 0, 0, 1]
    cats = np.array(
        [[0, 0, 0], [1, 1, 1], [1, 1, 1], [1, 1, 1], [1, 1, 2], [1, 1, 2], [2, 2, 3], [2, 2, 4]]
    )
    sessions, items = [], []
    for s in range(3):
        sessions += [f"a{s}", f"a{s}"]
        items += [1, 4]
    for s in range(5):
        sessions += [f"b{s}", f"b{s}"]
        items += [1, 2]
    sessions += ["c", "c"]
    items += [1, 6]
    counts = CoCounts.from_sessions(np.array(sessions), np.array(items), n)
    return ShopContext(
        item_ids=["[UNK]", *[f"i{i}" for i in range(1, n)]],
        titles=[
            "",
            "white mug",
            "blue mug",
            "tea cup",
            "steel kettle",
            "glass kettle",
            "desk lamp",
            "dome tent",
        ],
        categories=["", *["A > B > C"] * 3, *["A > B > D"] * 2, "E > F > G", "E > F > H"],
        brands=["", "b1", "b1", "b1", "b2", "b2", "b3", "b4"],
        prices=np.array([np.nan, 5, 6, 7, 30, 35, 20, 100], float),
        category_idx=cats,
        brand_idx=np.array([0, 1, 1, 1, 2, 2, 3, 4]),
        price_bucket=np.array([0, 1, 1, 1, 3, 3, 2, 4]),
        item_embeddings=emb,
        text_embeddings=emb.copy(),
        popularity=np.array([0, 9, 5, 1, 3, 2, 1, 7], float),
        coview=counts,
        copurchase=counts,
        user_index={"alice": 1},
        user_histories={"alice": np.array([2])},
        user_seen={"alice": np.array([2])},
        max_history=4,
        query_encoder=query_encoder,
    )


def mean_history_encoder(ctx_ref):
    """A query encoder: the mean embedding of the history (the 'anyone' vector e7 when empty)."""

    def encode(queries, user_idx, history):
        ctx = ctx_ref()
        out = []
        for h in np.asarray(history):
            h = h[h > 0]
            out.append(ctx.item_embeddings[h].mean(0) if len(h) else ctx.item_embeddings[7])
        return np.asarray(out, np.float32)

    return encode


@pytest.fixture
def ctx() -> ShopContext:
    holder = {}
    c = hand_context(mean_history_encoder(lambda: holder["ctx"]))
    holder["ctx"] = c
    return c


@pytest.fixture(scope="package")
def tiny_data():
    from tfrec.config import SplitConfig
    from tfrec.data.prepared import prepare_data

    items, events = make_shop()
    # some add_to_cart events so baskets exist
    extra = events[events.event == "click"].iloc[::3].copy()
    extra["event"] = "add_to_cart"
    import pandas as pd

    events = pd.concat([events, extra], ignore_index=True)
    return prepare_data(items, events, SplitConfig(test_days=5, val_days=5))


@pytest.fixture(scope="package")
def tiny_model(tiny_data):
    import tensorflow as tf

    from tfrec.config import Config
    from tfrec.data.datasets import retrieval_dataset
    from tfrec.models.retrieval import build_retrieval_model

    cfg = Config()
    cfg.retrieval.embedding_dim = 16
    cfg.retrieval.projection_layers = [32]
    cfg.retrieval.id_embedding_dim = 8
    rng = np.random.default_rng(0)
    item = rng.normal(size=(len(tiny_data.catalog), 16)).astype("float32")
    query = rng.normal(size=(len(tiny_data.queries), 16)).astype("float32")
    item[0] = query[0] = 0
    tf.keras.utils.set_random_seed(0)
    model = build_retrieval_model(cfg, tiny_data, item, query)
    model.fit(retrieval_dataset(tiny_data, "train", batch_size=32), epochs=2, verbose=0)
    return model


@pytest.fixture(scope="package")
def tiny_ctx(tiny_data, tiny_model):
    from tfrec.shop.context import ModelQueryEncoder

    return ShopContext.from_prepared(
        tiny_data,
        tiny_model.all_item_embeddings(),
        tiny_model.item_text_table.numpy(),
        ModelQueryEncoder(tiny_model, tiny_data.queries),
        splits=None,
    )
