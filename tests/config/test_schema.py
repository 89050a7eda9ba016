"""tfrec.config.schema: the stages the config accepts are the stages `tfrec run` has."""

import typing

import pytest

from tfrec.config import STAGE_NAMES, Config, ConfigError, load_config


def write(tmp_path, text):
    p = tmp_path / "x.yaml"
    p.write_text(text)
    return p


def test_unknown_stage_is_refused_before_anything_runs(tmp_path):
    from tfrec.stages import run_stages

    cfg = load_config(write(tmp_path, f"run_dir: {tmp_path / 'run'}\n"))
    with pytest.raises(ConfigError, match=r"unknown stage\(s\) 'retreival'"):
        run_stages(cfg, ["data", "retreival"])
    assert not (tmp_path / "run" / "data").exists()


def test_every_stage_the_config_accepts_can_run():
    from tfrec.stages import STAGES

    accepted = typing.get_args(typing.get_args(typing.get_type_hints(Config)["stages"])[0])
    assert accepted == STAGE_NAMES == tuple(STAGES)
    assert all(callable(run) for run in STAGES.values())
