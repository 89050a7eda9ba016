"""The ranker's features (`tfrec.models.ranking_features`): per-impression features with
leak-free histories, unshown retrieval candidates as negatives, the query text table of a
frozen-mode retrieval model, and the tf.data pipeline."""

import numpy as np
import pandas as pd
import tensorflow as tf
from tiny_ranking import (  # noqa: F401  (fixtures)
    builder,
    data,
    frame_inputs,
    shop,
)

from tfrec.config import Config
from tfrec.models.ranking_features import make_dataset, ranking_query_text_table
from tfrec.text.frozen import make_text_encoder


def test_ranking_frame_features_and_leak_free_history(data, builder):
    frame, feats, labels = frame_inputs(builder)
    assert len(frame) == (data.impressions.split == "train").sum()
    assert set(feats) >= {
        "query_embedding",
        "item_embedding",
        "category",
        "brand",
        "price_bucket",
        "hour",
        "position",
        "rating",
        "colour",
    }
    assert feats["query_embedding"].shape == (len(frame), 16)
    assert feats["position"].min() >= 1 and feats["hour"].max() <= 23
    assert labels["purchase"].sum() > 0 and (labels["purchase"] <= labels["click"]).all()
    # every history item was a positive of the same user strictly before the search
    pos = data.retrieval
    for row in frame.drop_duplicates("search_id").itertuples():
        hist = row.history[row.history > 0]
        before = pos[(pos.user_id == row.user_id) & (pos.timestamp < row.search_time)]
        assert set(hist) <= set(before.item_idx)


def test_unshown_negatives_are_retrieved_items_the_search_did_not_show(builder):
    frame, _, _ = frame_inputs(builder)
    extra = builder.unshown_negatives(frame, per_search=2, candidates=10, position=0, seed=0)
    assert len(extra) > 0
    assert (extra.groupby("search_id").size() <= 2).all()
    assert (extra["position"] == 0).all() and (extra[["click", "purchase"]] == 0).all().all()
    shown = frame.groupby("search_id")["item_idx"].agg(set)
    for row in extra.itertuples():
        assert row.item_idx not in shown[row.search_id]
    feats, labels = builder.frame_features(pd.concat([frame, extra], ignore_index=True))
    assert len(labels["click"]) == len(frame) + len(extra)


class _FrozenRetrieval:
    """What `ranking_query_text_table` reads of a frozen-mode retrieval model."""

    def __init__(self, table):
        self.query_text_table = tf.constant(table)


def test_query_text_table_keeps_known_rows_and_encodes_impression_only_queries(
    tmp_path, tiny_bert_dir, capsys
):
    cfg = Config()
    cfg.text.checkpoint = str(tiny_bert_dir)
    cfg.text.cache_dir = str(tmp_path / "cache")
    cfg.text.max_length = 16
    known = np.random.default_rng(0).normal(size=(3, 32)).astype(np.float32)
    model = _FrozenRetrieval(known)
    queries = ["", "running shoes", "frying pan", "red sneakers", "shoe"]
    table = ranking_query_text_table(cfg, model, queries)
    assert table.shape == (5, 32) and table.dtype == np.float32
    np.testing.assert_array_equal(table[:3], known)
    encoder = make_text_encoder(cfg, mode="frozen")
    np.testing.assert_allclose(table[3:], encoder.encode_texts(queries[3:]), rtol=1e-5, atol=1e-5)
    assert "2 impression-only queries: 0 cached, 2 encoded" in capsys.readouterr().out
    again = ranking_query_text_table(cfg, model, queries)  # now from the embedding cache
    np.testing.assert_array_equal(again, table)
    assert "2 impression-only queries: 2 cached, 0 encoded" in capsys.readouterr().out
    # every query known: the model's own table, nothing encoded
    np.testing.assert_array_equal(ranking_query_text_table(cfg, model, queries[:3]), known)


def test_make_dataset_batches_and_shuffles_rows():
    feats = {"hour": np.arange(10, dtype=np.int64)}
    labels = {"click": np.arange(10, dtype=np.float32)}
    ordered = [f["hour"].numpy().tolist() for f, _ in make_dataset(feats, labels, 4, False, 0)]
    assert ordered == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    shuffled = [
        (f["hour"].numpy(), y["click"].numpy()) for f, y in make_dataset(feats, labels, 4, True, 0)
    ]
    hours = np.concatenate([h for h, _ in shuffled])
    assert sorted(hours.tolist()) == list(range(10)) and hours.tolist() != list(range(10))
    for h, y in shuffled:  # features and labels stay paired
        np.testing.assert_array_equal(h, y)
