"""Validation during training: tasks the data has, and keeping the start when no epoch wins."""

from types import SimpleNamespace

import numpy as np
import pytest
import tf_keras as keras
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.config import SplitConfig
from tfrec.data.prepared import prepare_data
from tfrec.evaluation.validation import StartGuard, tasks_present


def _model():
    model = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    model.build((None, 3))
    return model


@pytest.mark.parametrize(
    "start, best, kept", [(0.9, 0.5, True), (0.5, 0.5, True), (0.5, 0.9, False), (0.5, None, True)]
)
def test_start_guard_keeps_the_start_only_when_no_epoch_beat_it(start, best, kept, capsys):
    model = _model()
    start_weights = [w.copy() for w in model.get_weights()]
    trained = [w + 1.0 for w in start_weights]
    model.set_weights(trained)
    guard = StartGuard(SimpleNamespace(start=start, start_weights=start_weights, best=best, k=100))
    guard.set_model(model)
    guard.on_train_end()
    want = start_weights if kept else trained
    for got, w in zip(model.get_weights(), want):
        np.testing.assert_array_equal(got, w)
    assert guard.kept_start is kept
    assert ("starting weights are kept" in capsys.readouterr().out) is kept


def test_tasks_present_follow_the_data():
    items, events = make_shop()
    data = prepare_data(items, events, SplitConfig(test_days=5, val_days=5))
    assert tasks_present(data) == ["search", "feed"]
    # a search-only log: every positive came with a query, so there is no feed task to validate
    searches = events[events["query"].fillna("") != ""]
    data = prepare_data(items, searches, SplitConfig(test_days=5, val_days=5))
    assert tasks_present(data) == ["search"]
