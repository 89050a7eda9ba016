"""tfrec.config.search_space: a tuning section whose space or objective cannot work is a
ConfigError when the config is loaded; the default spaces."""

from pathlib import Path

import pytest
import yaml

from tfrec.config import (
    Config,
    ConfigError,
    default_search_space,
    load_config,
    resolve_search_space,
    save_config,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("tuning", "message"),
    [
        ({"search_space": {}}, "tuning.search_space is empty"),
        (
            {"search_space": {"retrieval.temperature": {"type": "float", "min": 0.5, "max": 0.1}}},
            "tuning.search_space.retrieval.temperature has min 0.5 >= max 0.1",
        ),
        (
            {"search_space": {"retrieval.embedding_dim": {"type": "choice", "values": []}}},
            "tuning.search_space.retrieval.embedding_dim.values is empty",
        ),
        (
            {"search_space": {"retrieval.dropout": {"type": "float", "min": 0.1, "max": 0.5}}},
            "tuning.search_space.retrieval.dropout is not a tunable config key",
        ),
        (
            {"search_space": {"data.split.val_days": {"type": "int", "min": 1, "max": 3}}},
            "tuning.search_space.data.split.val_days is not a tunable config key",
        ),
        (
            {"search_space": {"retrieval.temperature": {"type": "float", "min": 0, "max": 1}}},
            "tuning.search_space.retrieval.temperature.min must be > 0",
        ),
        (
            {"search_space": {"retrieval.optimizer": {"type": "choice", "values": ["rmsprop"]}}},
            "tuning.search_space.retrieval.optimizer.values[0] must be one of",
        ),
        (
            {"search_space": {"retrieval.optimizer": {"type": "int", "min": 1, "max": 2}}},
            "retrieval.optimizer is not an int config value",
        ),
        (
            {
                "search_space": {
                    "retrieval.embedding_dim": {"type": "int", "min": 8, "max": 64, "values": [8]}
                }
            },
            "tuning.search_space.retrieval.embedding_dim.values is only for type choice",
        ),
        (
            {
                "search_space": {
                    "retrieval.learning_rate": {
                        "type": "float",
                        "min": -1.0,
                        "max": 1.0,
                        "sampling": "log",
                    }
                }
            },
            "tuning.search_space.retrieval.learning_rate.min must be > 0",
        ),
        ({"objective": "val_auc"}, "tuning.objective 'val_auc' is not reported by the retrieval"),
        ({"objective": "loss"}, "tuning.direction is max but tuning.objective 'loss' is a loss"),
        ({"tuner": "hyperband", "epochs": 2}, "hyperband needs tuning.epochs >= "),
    ],
)
def test_bad_tuning_sections_are_config_errors(tmp_path, tuning, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"tuning": tuning}))
    with pytest.raises(ConfigError, match="bad.yaml: .*") as err:
        load_config(path)
    assert message in str(err.value)


def test_default_space_and_yaml_round_trip(tmp_path):
    cfg = load_config(REPO / "configs" / "tune_quickstart.yaml")
    assert cfg.tuning.search_space
    default = Config()
    assert resolve_search_space(default) == default_search_space("retrieval")
    default.text.mode = "top_k_layers"
    assert "text.trainable_layers" in resolve_search_space(default)
    save_config(cfg, tmp_path / "again.yaml")
    assert load_config(tmp_path / "again.yaml").tuning == cfg.tuning
