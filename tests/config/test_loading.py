"""tfrec.config.loading: YAML files, --set overrides, cross-key rules, round trips."""

from pathlib import Path

import pytest

from tfrec.config import ConfigError, config_from_dict, config_to_dict, load_config


def write(tmp_path, text):
    p = tmp_path / "x.yaml"
    p.write_text(text)
    return p


def test_quickstart_loads():
    cfg = load_config("configs/quickstart.yaml")
    assert cfg.data.source == "synthetic"
    assert cfg.retrieval.temperature > 0


def test_all_example_configs_load():
    for path in sorted(Path("configs").glob("*.yaml")):
        load_config(path)


def test_invalid_yaml(tmp_path):
    p = write(tmp_path, "retrieval: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(p)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_files_source_needs_tables(tmp_path):
    p = write(tmp_path, "data:\n  source: files\n")
    with pytest.raises(ConfigError, match="data with source: files needs both"):
        load_config(p)


def test_round_trip():
    cfg = load_config("configs/quickstart.yaml")
    again = config_from_dict(config_to_dict(cfg))
    assert config_to_dict(again) == config_to_dict(cfg)


def test_overrides(tmp_path):
    p = write(tmp_path, "name: a\n")
    cfg = load_config(p, overrides={"retrieval.epochs": 3})
    assert cfg.retrieval.epochs == 3


def test_set_on_an_empty_section_and_on_a_value(tmp_path):
    p = write(tmp_path, "retrieval:\n")
    assert load_config(p, overrides={"retrieval.epochs": 3}).retrieval.epochs == 3
    with pytest.raises(
        ConfigError, match=r"--set retrieval.epochs.x: retrieval.epochs is not a section"
    ):
        load_config(p, overrides={"retrieval.epochs": 3, "retrieval.epochs.x": 1})


def test_judgment_ranking_keys():
    cfg = config_from_dict({"ranking": {"judgments": "on", "judgment_model": "both"}})
    assert cfg.ranking.judgments == "on" and cfg.ranking.judgment_features == ["bm25", "zero_shot"]
    for bad, match in (
        ({"judgments": "yes"}, "ranking.judgments"),
        ({"judgment_model": "bert"}, "ranking.judgment_model"),
        ({"judgment_features": ["tfidf"]}, "ranking.judgment_features"),
        ({"judgment_candidates": 5}, "ranking.judgment_candidates must be >= 10"),
        ({"cross_encoder_max_length": 600}, "ranking.cross_encoder_max_length must be <= 512"),
        ({"judgment_val_fraction": 0.5, "judgment_test_fraction": 0.5}, "must be < 1"),
        ({"cross_encoder_max_length": 16, "cross_encoder_query_length": 15}, "leave room"),
    ):
        with pytest.raises(ConfigError, match=match):
            config_from_dict({"ranking": bad})
