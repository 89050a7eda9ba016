"""The `tfrec` command: every subcommand has --help, errors are one clear line, validate lists
every violation of a broken shop."""

import subprocess
import sys

import pytest

import tfrec  # noqa: F401
from tfrec.cli import build_parser, main


def subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


@pytest.mark.parametrize("name", subcommands())
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as e:
        main([name, "--help"])
    assert e.value.code == 0
    assert "usage: tfrec" in capsys.readouterr().out


def test_validate_lists_every_violation_of_the_broken_shop(capsys):
    rc = main(
        [
            "validate",
            "--items",
            "tests/fixtures/broken/items.csv",
            "--events",
            "tests/fixtures/broken/events.csv",
            "--judgments",
            "tests/fixtures/broken/judgments.csv",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 1
    assert out.startswith("16 violation(s):")
    lines = [line.strip() for line in out.splitlines()[1:]]
    assert len(lines) == 16
    assert any(
        line.endswith("items.csv:3:price: negative_price: price must be >= 0, got -3.5")
        for line in lines
    )
    assert any("events.csv:5:event: unknown_event" in line for line in lines)
    assert any("judgments.csv:6:item_id: unknown_item" in line for line in lines)


def test_config_error_is_one_line_with_exit_code_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("retrieval:\n  temperature: -1\n")
    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"config error: {bad}: retrieval.temperature must be > 0, got -1.0"


def test_set_override_errors_name_the_key(capsys):
    assert main(["run", "configs/quickstart.yaml", "--set", "retrieval.epochs=zero"]) == 2
    assert "retrieval.epochs must be an integer, got 'zero'" in capsys.readouterr().err


def test_generate_writes_the_contract_tables(tmp_path):
    out = tmp_path / "shop"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfrec.cli",
            "generate",
            "--out",
            str(out),
            "--num-items",
            "300",
            "--num-users",
            "100",
            "--format",
            "csv",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for name in ("items", "events", "judgments", "users"):
        assert (out / f"{name}.csv").stat().st_size > 0
    assert (
        main(
            [
                "validate",
                "--items",
                str(out / "items.csv"),
                "--events",
                str(out / "events.csv"),
                "--users",
                str(out / "users.csv"),
            ]
        )
        == 0
    )
