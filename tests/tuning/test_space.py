"""tfrec.tuning.space: a search space declared as Keras Tuner hyperparameters (the config's
values are the defaults), trial values back to config values, and a trial's config."""

import keras_tuner as kt
import pytest

from tfrec.config import Config, config_from_dict
from tfrec.tuning.space import config_values, declare_hyperparameters, trial_config

SMALL_SPACE = {
    "retrieval.temperature": {"type": "float", "min": 0.05, "max": 0.5, "sampling": "log"},
    "retrieval.embedding_dim": {"type": "choice", "values": [8, 16]},
    "retrieval.projection_layers": {"type": "choice", "values": [[], [16]]},
}


def test_every_default_space_value_is_a_valid_trial_value():
    default = Config()
    one = trial_config(
        default, {"retrieval.projection_layers": [256, 128], "retrieval.num_hard_negatives": None}
    )
    assert one.retrieval.projection_layers == [256, 128]


def test_hyperparameters_map_to_config_values_and_defaults_are_the_config():
    cfg = Config()
    space = config_from_dict(
        {
            "tuning": {
                "search_space": {
                    **SMALL_SPACE,
                    "retrieval.num_hard_negatives": {"type": "choice", "values": [None, 4]},
                    "retrieval.optimizer": {"type": "choice", "values": ["adam", "sgd"]},
                }
            }
        }
    ).tuning.search_space
    cfg.retrieval.embedding_dim = 16
    cfg.retrieval.temperature = 0.1
    hp = kt.HyperParameters()
    declare_hyperparameters(hp, space, cfg)
    values = config_values(hp.values, space)
    # the config's own values are the defaults (projection [256] is not in the space)
    assert values["retrieval.embedding_dim"] == 16
    assert values["retrieval.temperature"] == pytest.approx(0.1)
    assert values["retrieval.num_hard_negatives"] is None
    hp.values["retrieval.projection_layers"] = "[16]"
    hp.values["retrieval.num_hard_negatives"] = "4"
    hp.values["tuner/epochs"] = 3
    trial = trial_config(cfg, config_values(hp.values, space))
    assert trial.retrieval.projection_layers == [16]
    assert trial.retrieval.num_hard_negatives == 4
    assert trial.retrieval.optimizer == "adam"
    assert cfg.retrieval.projection_layers == [256]  # the run's config is not changed
