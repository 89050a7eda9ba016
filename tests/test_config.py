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
    from pathlib import Path

    for path in sorted(Path("configs").glob("*.yaml")):
        load_config(path)


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


def test_range_rules_apply_to_mapping_values(tmp_path):
    p = write(tmp_path, "shop:\n  similar_weights: {semantic: -1}\n")
    with pytest.raises(ConfigError, match=r"shop.similar_weights.semantic must be >= 0"):
        load_config(p)


def test_unknown_stage_is_refused_before_anything_runs(tmp_path):
    from tfrec.stages import run_stages

    cfg = load_config(write(tmp_path, f"run_dir: {tmp_path / 'run'}\n"))
    with pytest.raises(ConfigError, match=r"unknown stage\(s\) 'retreival'"):
        run_stages(cfg, ["data", "retreival"])
    assert not (tmp_path / "run" / "data").exists()


def test_every_stage_the_config_accepts_can_run():
    import typing

    from tfrec.config import Config
    from tfrec.stages import STAGES

    accepted = typing.get_args(typing.get_args(typing.get_type_hints(Config)["stages"])[0])
    assert set(accepted) == set(STAGES)
    import importlib

    for module, function in STAGES.values():
        assert callable(getattr(importlib.import_module(module), function))
