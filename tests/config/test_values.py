"""tfrec.config.values: each value checked against its field's type and range rules; the
message names the file, the key and the value."""

import pytest

from tfrec.config import ConfigError, load_config


def write(tmp_path, text):
    p = tmp_path / "x.yaml"
    p.write_text(text)
    return p


def test_out_of_range_names_file_key_and_value(tmp_path):
    p = write(tmp_path, "retrieval:\n  temperature: -1\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert str(e.value) == f"{p}: retrieval.temperature must be > 0, got -1.0"


def test_unknown_key(tmp_path):
    p = write(tmp_path, "retrieval:\n  temprature: 0.1\n")
    with pytest.raises(ConfigError, match=r"x.yaml: retrieval.temprature is not a known key"):
        load_config(p)


def test_wrong_type(tmp_path):
    p = write(tmp_path, "retrieval:\n  batch_size: many\n")
    with pytest.raises(ConfigError, match=r"retrieval.batch_size must be an integer, got 'many'"):
        load_config(p)


def test_bool_is_not_an_int(tmp_path):
    p = write(tmp_path, "retrieval:\n  epochs: true\n")
    with pytest.raises(ConfigError, match="retrieval.epochs must be an integer, got True"):
        load_config(p)


def test_bad_choice(tmp_path):
    p = write(tmp_path, "text:\n  mode: half\n")
    with pytest.raises(
        ConfigError, match=r"text.mode must be one of 'frozen', 'top_k_layers', 'full', got 'half'"
    ):
        load_config(p)


def test_nested_list_item(tmp_path):
    p = write(tmp_path, "evaluation:\n  ks: [10, -5]\n")
    with pytest.raises(ConfigError, match=r"evaluation.ks must be >= 1, got \[10, -5\]"):
        load_config(p)


def test_policy_value(tmp_path):
    p = write(tmp_path, "data:\n  policies:\n    negative_price: ignore\n")
    with pytest.raises(
        ConfigError, match=r"data.policies.negative_price must be one of 'error', 'drop'"
    ):
        load_config(p)


def test_range_rules_apply_to_mapping_values(tmp_path):
    p = write(tmp_path, "shop:\n  similar_weights: {semantic: -1}\n")
    with pytest.raises(ConfigError, match=r"shop.similar_weights.semantic must be >= 0"):
        load_config(p)
