"""Saving and loading the ranker (`tfrec.training.ranking_io`): identical scores after a round
trip, the extras' encoder and the retrieval weight saved with it."""

import numpy as np
from tiny_ranking import (  # noqa: F401  (fixtures)
    builder,
    data,
    frame_inputs,
    shop,
    small_ranker,
)

from tfrec.models.ranking_features import make_dataset
from tfrec.training.ranking_io import load_ranking_model, save_ranking_model


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
