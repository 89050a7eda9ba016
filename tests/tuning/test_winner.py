"""tfrec.tuning.winner: the best trial against the default config, trained on equal terms."""

from __future__ import annotations

import math

import pytest

from tfrec.config import Config, config_from_dict
from tfrec.tuning.winner import comparable_trial_objective, needs_retraining, pick_winner


@pytest.mark.parametrize(
    "trial, default, direction, winner",
    [
        (0.30, 0.25, "max", "trial"),
        (0.2199, 0.2311, "max", "default"),  # the reported search: the trial was worse
        (0.25, 0.25, "max", "default"),  # a tie is no improvement
        (0.20, 0.25, "min", "trial"),
        (0.30, 0.25, "min", "default"),
        (math.nan, 0.25, "max", "default"),  # a best trial that failed to retrain cannot win
        (0.30, None, "max", "trial"),  # not compared
    ],
)
def test_pick_winner(trial, default, direction, winner):
    verdict = pick_winner(trial, default, direction)
    assert verdict.winner == winner
    if winner == "default":
        assert "default config wins" in verdict.reason
    if default is None:
        assert "not trained for comparison" in verdict.reason


def test_pick_winner_rejects_an_unknown_direction():
    with pytest.raises(ValueError, match="tuning.direction must be max or min, got 'up'"):
        pick_winner(0.1, 0.2, "up")


@pytest.mark.parametrize(
    "values, retrain",
    [
        ({"retrieval.temperature": 0.1}, False),  # random / Bayesian trial
        ({"tuner/epochs": 3, "tuner/initial_epoch": 0, "tuner/round": 0}, False),
        ({"tuner/epochs": 1, "tuner/initial_epoch": 0, "tuner/round": 0}, True),
        ({"tuner/epochs": 3, "tuner/initial_epoch": 1, "tuner/trial_id": "0000"}, True),
    ],
)
def test_needs_retraining(values, retrain):
    assert needs_retraining(values, epochs=3) is retrain


class _RecordingTuner:
    """Records `train_config` calls; returns an objective per execution."""

    class objective:  # noqa: N801  (mirrors keras_tuner.Objective's attribute)
        name = "val_recall_at_10"

    def __init__(self, values, fail=False):
        self.values = list(values)
        self.calls = []
        self.fail = fail

    def train_config(self, cfg, weights_path, epochs, execution=0):
        self.calls.append((cfg, weights_path, epochs, execution))
        if self.fail:
            raise FloatingPointError("loss became NaN")
        return {"val_recall_at_10": self.values[execution], "loss": 1.0}


def _cfg(**tuning) -> Config:
    return config_from_dict({"tuning": {"epochs": 3, **tuning}})


def test_a_hyperband_trial_is_retrained_from_scratch_with_the_default_settings():
    cfg, trial_cfg = _cfg(executions_per_trial=2), _cfg(executions_per_trial=2)
    tuner = _RecordingTuner([0.2, 0.4])
    hp = {"tuner/epochs": 1, "tuner/initial_epoch": 0}
    value, retrained = comparable_trial_objective(tuner, cfg, trial_cfg, hp, 0.9)
    assert retrained and value == pytest.approx(0.3)  # the mean of the executions, not 0.9
    assert [(c[0], c[1], c[2], c[3]) for c in tuner.calls] == [
        (trial_cfg, None, 3, 0),
        (trial_cfg, None, 3, 1),
    ]


def test_a_random_trial_keeps_its_objective_and_a_failed_retraining_loses():
    tuner = _RecordingTuner([0.5])
    assert comparable_trial_objective(tuner, _cfg(), _cfg(), {"x": 1}, 0.9) == (0.9, False)
    assert tuner.calls == []
    failing = _RecordingTuner([0.5], fail=True)
    value, retrained = comparable_trial_objective(failing, _cfg(), _cfg(), {"tuner/epochs": 1}, 0.9)
    assert retrained and math.isnan(value)
    assert pick_winner(value, 0.1, "max").winner == "default"
