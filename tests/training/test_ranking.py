"""Training the ranker (`tfrec.training.ranking`): label checks and the shared callbacks."""

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

from tfrec.models.ranking_features import make_dataset
from tfrec.training.ranking import check_labels


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
