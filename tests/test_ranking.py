"""The CTR ranker: trains, round-trips through save/load, handles bad input clearly."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.config import Config, SplitConfig
from tfrec.data.datasets import prepare_data
from tfrec.data.ranking_examples import (
    HISTORY_FEATURES,
    ExtraFeatureEncoder,
    history_features,
    ranking_frame,
    ranking_queries,
)
from tfrec.evaluation.metrics import ranking_metrics
from tfrec.models.ranking import RankingModel, logistic_regression_config, ranking_throughput
from tfrec.training.ranking import (
    RankingFeatureBuilder,
    auc,
    bootstrap_auc_difference,
    bootstrap_interval,
    check_labels,
    gauc,
    load_ranking_model,
    make_dataset,
    ndcg_at,
    ndcg_per_instance,
    save_ranking_model,
    significance_table,
)
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


@pytest.fixture(scope="module")
def shop():
    items, events = make_shop()
    items["rating"] = np.linspace(1, 5, len(items))
    items["colour"] = [["red", "blue", None][i % 3] for i in range(len(items))]
    return items, with_purchases(events)


@pytest.fixture(scope="module")
def data(shop):
    return prepare_data(*shop, SPLIT)


@pytest.fixture(scope="module")
def builder(data, shop):
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
    kinds = builder.extras.kinds
    frame = ranking_frame(
        builder.data, split, builder.queries, events=None, items=builder.items, extra_features=kinds
    )
    return frame, *builder.frame_features(frame)


def small_ranker(builder, **overrides):
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


@pytest.mark.parametrize("structure", ["parallel", "stacked"])
def test_training_lowers_the_loss(builder, structure):
    tf.keras.utils.set_random_seed(0)
    _, feats, labels = frame_inputs(builder)
    model = small_ranker(builder, structure=structure)
    hist = model.fit(make_dataset(feats, labels, 64, True, 0), epochs=6, verbose=0)
    loss = hist.history["loss"]
    assert loss[-1] < loss[0]
    assert "click_auc" in hist.history and "purchase_given_click_auc" in hist.history


def test_save_load_round_trip_identical_scores(builder, tmp_path):
    _, feats, labels = frame_inputs(builder)
    model = small_ranker(builder)
    model.fit(make_dataset(feats, labels, 64, True, 0), epochs=1, verbose=0)
    save_ranking_model(model, tmp_path / "ranker", builder.extras)
    again, extras = load_ranking_model(tmp_path / "ranker")
    assert again.get_config() == model.get_config()
    assert extras.kinds == builder.extras.kinds
    _, test_feats, _ = frame_inputs(builder, "test")
    for key in ("click", "purchase", "score"):
        np.testing.assert_array_equal(
            model(test_feats)[key].numpy(), again(test_feats)[key].numpy()
        )
    np.testing.assert_array_equal(
        model.serving_scores(test_feats)["score"].numpy(),
        again.serving_scores(test_feats)["score"].numpy(),
    )


def test_position_defaults_to_the_serving_position(builder):
    _, feats, labels = frame_inputs(builder)
    model = small_ranker(builder)
    model.fit(make_dataset(feats, labels, 64, True, 0), epochs=2, verbose=0)
    without = {k: v for k, v in feats.items() if k != "position"}
    at_one = {**feats, "position": np.ones_like(feats["position"])}
    np.testing.assert_allclose(model(without)["score"].numpy(), model(at_one)["score"].numpy())
    np.testing.assert_allclose(
        model.serving_scores(feats)["score"].numpy(), model(at_one)["score"].numpy()
    )
    # training learnt a position effect: logged positions change the click probability
    assert not np.allclose(model(feats)["click"].numpy(), model(at_one)["click"].numpy())


def test_missing_feature_at_serving_names_it(builder):
    _, feats, _ = frame_inputs(builder, "test")
    model = small_ranker(builder)
    model(feats)
    for name in ("brand", "item_idx", "rating", "colour", "history_brand_share"):
        broken = {k: v for k, v in feats.items() if k != name}
        with pytest.raises(ValueError, match=f"missing: {name}"):
            model.serving_scores(broken)


def test_impressions_without_positions_are_an_error(data):
    broken = data.impressions.copy()
    broken.loc[broken.index[:7], "position"] = pd.NA
    bad = type(data)(**{**data.__dict__, "impressions": broken})
    split = broken.loc[broken.index[0], "split"]
    with pytest.raises(ValueError, match=r"7 of \d+ impressions in split '\w+' have no position"):
        ranking_frame(bad, split)


def test_no_purchases_disables_the_purchase_head(builder, capsys):
    _, feats, labels = frame_inputs(builder)
    labels = {**labels, "purchase": np.zeros_like(labels["purchase"])}
    assert check_labels(labels) is False
    assert "purchase head is disabled" in capsys.readouterr().out
    model = small_ranker(builder, purchase_head=False)
    hist = model.fit(make_dataset(feats, labels, 64, True, 0), epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    out = model(feats)
    np.testing.assert_array_equal(out["purchase"].numpy(), 0)
    np.testing.assert_allclose(out["score"].numpy(), out["click"].numpy())


def test_no_clicks_is_an_error():
    with pytest.raises(ValueError, match="no clicks among the 5 train impressions"):
        check_labels({"click": np.zeros(5), "purchase": np.zeros(5)})


def test_unknown_extra_feature_is_named(data, shop):
    with pytest.raises(ValueError, match="extra_features.device: no column 'device'"):
        ranking_frame(
            data, "train", events=shop[1], items=shop[0], extra_features={"device": "categorical"}
        )


def test_logistic_regression_baseline_has_no_interactions(builder):
    model = small_ranker(builder)
    lr = RankingModel.from_config(logistic_regression_config(model.get_config()))
    assert lr.cross == [] and lr.deep == []
    _, feats, labels = frame_inputs(builder)
    lr.compile_default()
    hist = lr.fit(make_dataset(feats, labels, 64, True, 0), epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="structure"):
        RankingModel([2, 2, 2], 2, 2, structure="diagonal")
    with pytest.raises(ValueError, match="serving_position"):
        RankingModel([2, 2, 2], 2, 2, max_position=5, serving_position=9)
    with pytest.raises(ValueError, match="num_items"):
        RankingModel([2, 2, 2], 2, 2, item_id_dim=4)


def test_item_id_embedding_is_learnt_and_unknown_ids_are_neutral(builder):
    _, feats, labels = frame_inputs(builder)
    model = small_ranker(builder)
    untrained = model.item_id_embedding  # zeros before training: every item starts neutral
    model(feats)
    assert not np.any(untrained.embeddings.numpy())
    model.fit(make_dataset(feats, labels, 64, True, 0), epochs=2, verbose=0)
    table = model.item_id_embedding.embeddings.numpy()
    shown = np.unique(feats["item_idx"])
    assert np.abs(table[shown]).sum(axis=1).min() > 0  # every trained item moved
    never = np.setdiff1d(np.arange(1, model.num_items), shown)
    if len(never):
        assert not np.any(table[never])  # items without impressions stay neutral
    # ids past the table (items added after training) and negative ids score as padding
    out_of_range = {**feats, "item_idx": np.full_like(feats["item_idx"], model.num_items + 7)}
    negative = {**feats, "item_idx": np.full_like(feats["item_idx"], -3)}
    padding = {**feats, "item_idx": np.zeros_like(feats["item_idx"])}
    want = model(padding)["score"].numpy()
    np.testing.assert_array_equal(model(out_of_range)["score"].numpy(), want)
    np.testing.assert_array_equal(model(negative)["score"].numpy(), want)


def test_metric_arithmetic():
    y = np.array([1, 0, 1, 0])
    assert auc(y, np.array([0.9, 0.1, 0.8, 0.2])) == 1.0
    assert auc(y, np.array([0.1, 0.9, 0.2, 0.8])) == 0.0
    assert auc(y, np.array([0.5, 0.5, 0.5, 0.5])) == 0.5
    assert np.isnan(auc(np.ones(3), np.arange(3)))
    # group a: perfect (4 rows); group b: inverted (2 rows); group c: one class only (skipped)
    y = np.array([1, 0, 1, 0, 1, 0, 1])
    s = np.array([0.9, 0.1, 0.8, 0.2, 0.1, 0.9, 0.5])
    g = np.array(["a", "a", "a", "a", "b", "b", "c"])
    assert gauc(y, s, g) == pytest.approx((1.0 * 4 + 0.0 * 2) / 6)
    assert ndcg_at([np.array([3.0, 1.0, 0.0])], 10) == 1.0
    assert ndcg_at([np.array([0.0, 3.0])], 10) == pytest.approx(1 / np.log2(3))
    assert np.isnan(ndcg_at([np.zeros(3)], 10))
    ranked = np.array([[5, 6, 7], [7, 6, 5]])
    per = ndcg_per_instance(ranked, [np.array([5]), np.array([5])], [np.ones(1), np.ones(1)], 10)
    np.testing.assert_allclose(per, [1.0, 0.5])
    # the per-search terms average to the NDCG of `ranking_metrics`
    rng = np.random.default_rng(0)
    ranked = np.stack([rng.permutation(30) for _ in range(20)])
    positives = [rng.choice(30, size=3, replace=False) for _ in range(20)]
    gains = [rng.integers(1, 4, size=3).astype(float) for _ in range(20)]
    want = ranking_metrics(ranked, positives, gains, [10])["ndcg@10"]
    assert ndcg_per_instance(ranked, positives, gains, 10).mean() == pytest.approx(want)


def test_bootstrap_intervals():
    lo, hi = bootstrap_interval(np.r_[np.zeros(50), np.ones(50)], reps=500, seed=0)
    assert lo < 0.5 < hi and hi - lo < 0.3
    assert bootstrap_interval(np.full(20, 0.25)) == (0.25, 0.25)
    assert all(np.isnan(bootstrap_interval(np.array([]))))
    # identical scores: no difference, and no spread; a better score: an interval above 0
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(200), 5)
    y = (rng.random(1000) < 0.3).astype(float)
    noise = rng.normal(size=1000)
    assert bootstrap_auc_difference(y, noise, noise, groups, reps=50) == (0.0, 0.0, 0.0)
    diff, lo, hi = bootstrap_auc_difference(y, y + noise, noise, groups, reps=50)
    assert 0 < lo <= diff <= hi


def test_throughput_is_measured(builder):
    _, feats, _ = frame_inputs(builder, "test")
    model = small_ranker(builder)
    model(feats)
    assert ranking_throughput(model, 100, min_seconds=0.05) > 0


def test_history_features(data):
    c = data.catalog
    item = 5
    same_brand = [i for i in range(1, len(c)) if c.brand_idx[i] == c.brand_idx[item] and i != item]
    other = [i for i in range(1, len(c)) if c.brand_idx[i] != c.brand_idx[item]]
    history = np.array([[0, 0, same_brand[0], other[0]], [0, 0, 0, 0]])
    f = history_features(data, history, np.array([item, item]))
    np.testing.assert_array_equal(f["history_length"], [2, 0])
    assert f["history_brand_share"][0] == pytest.approx(0.5)
    assert f["history_brand_share"][1] == 0 and f["history_price_gap"][1] == 0
    expected_gap = c.price_bucket[item] - c.price_bucket[[same_brand[0], other[0]]].mean()
    assert f["history_price_gap"][0] == pytest.approx(expected_gap)


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


def test_serving_score_blends_the_retrieval_logit(builder):
    _, feats, _ = frame_inputs(builder, "test")
    model = small_ranker(builder, retrieval_weight=0.5)
    logit = np.linspace(-3, 3, len(feats["hour"])).astype(np.float32)
    out = model.serving_scores({**feats, "retrieval_logit": logit})
    expected = np.log(np.maximum(out["score"].numpy(), 1e-12)) + 0.5 * logit
    np.testing.assert_allclose(out["serving_score"].numpy(), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="missing: retrieval_logit"):
        model.serving_scores(feats)
    # weight 0: the ranker's own score orders, no retrieval logit needed
    alone = small_ranker(builder)
    out = alone.serving_scores(feats)
    np.testing.assert_allclose(
        out["serving_score"].numpy(), np.log(np.maximum(out["score"].numpy(), 1e-12)), rtol=1e-6
    )


def test_retrieval_weight_round_trips_through_save_load(builder, tmp_path):
    _, feats, _ = frame_inputs(builder, "test")
    model = small_ranker(builder)
    model(feats)
    model.retrieval_weight = 1.5
    save_ranking_model(model, tmp_path / "ranker", builder.extras)
    again, _ = load_ranking_model(tmp_path / "ranker")
    assert again.retrieval_weight == 1.5
    feats = {**feats, "retrieval_logit": np.arange(len(feats["hour"]), dtype=np.float32)}
    np.testing.assert_array_equal(
        model.serving_scores(feats)["serving_score"].numpy(),
        again.serving_scores(feats)["serving_score"].numpy(),
    )


def test_ranking_uses_the_shared_training_callbacks(tmp_path):
    from tfrec.training.callbacks import ResumeReporter, training_callbacks

    first = tf.keras.callbacks.Callback()
    cbs = training_callbacks(tmp_path, "val_click_auc", 2, 10, "ranking", extra_first=[first])
    assert cbs[0] is first
    names = [type(c).__name__ for c in cbs[1:]]
    assert names == [
        "EarlyStopping",
        "ModelCheckpoint",
        "BackupAndRestore",
        "ResumeReporter",
        "TensorBoard",
    ]
    assert cbs[1].monitor == "val_click_auc" and cbs[1].patience == 2
    assert isinstance(cbs[4], ResumeReporter) and cbs[4].stage == "ranking"


def test_significance_table_names_each_comparison():
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"search_id": np.repeat(np.arange(80), 5)})
    labels = {"click": (rng.random(n) < 0.3).astype(float)}
    labels["purchase"] = labels["click"] * (rng.random(n) < 0.5)
    noise = rng.normal(size=n)
    preds = {
        "ranker": {"click": labels["click"] + noise, "purchase": labels["purchase"] + noise},
        "logistic regression": {"click": noise, "purchase": noise},
    }
    e2e = pd.DataFrame({"order": ["x"]})
    better, worse = np.full(50, 0.6), np.full(50, 0.5)
    e2e.attrs["per_search"] = {
        "retrieval only": {"NDCG@10": worse},
        "retrieval + ranker score alone": {"NDCG@10": worse},
        "retrieval + ranker serving score (beta 1 from val)": {"NDCG@10": better},
        "retrieval + logistic regression serving score (beta 2 from val)": {"NDCG@10": worse},
    }
    table = significance_table(frame, labels, preds, e2e, seed=0)
    assert list(table["comparison"]) == [
        "click AUC: ranker - logistic regression",
        "purchase AUC: ranker - logistic regression",
        "NDCG@10: retrieval + ranker - retrieval alone",
        "NDCG@10: retrieval + ranker - retrieval + LR",
    ]
    assert (table["95% low"] > 0).all()
    np.testing.assert_allclose(table["difference"].iloc[2:], [0.1, 0.1])
    # without the end-to-end table only the AUC rows remain
    assert len(significance_table(frame, labels, preds, pd.DataFrame(), seed=0)) == 2
