"""The CTR ranker (`tfrec.models.ranking`): trains, learns a position effect and per-item
embeddings, names missing features, blends the retrieval logit, has a logistic-regression
baseline without interactions."""

import numpy as np
import pytest
import tensorflow as tf
from tiny_ranking import (  # noqa: F401  (fixtures)
    builder,
    data,
    frame_inputs,
    shop,
    small_ranker,
)

from tfrec.models.ranking import RankingModel, logistic_regression_config, ranking_throughput
from tfrec.models.ranking_features import make_dataset


@pytest.mark.parametrize("structure", ["parallel", "stacked"])
def test_training_lowers_the_loss(builder, structure):
    tf.keras.utils.set_random_seed(0)
    _, feats, labels = frame_inputs(builder)
    model = small_ranker(builder, structure=structure)
    hist = model.fit(make_dataset(feats, labels, 64, True, 0), epochs=6, verbose=0)
    loss = hist.history["loss"]
    assert loss[-1] < loss[0]
    assert "click_auc" in hist.history and "purchase_given_click_auc" in hist.history


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


def test_throughput_is_measured(builder):
    _, feats, _ = frame_inputs(builder, "test")
    model = small_ranker(builder)
    model(feats)
    assert ranking_throughput(model, 100, min_seconds=0.05) > 0


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
