"""`run_stages` itself (the stages are stood in for): its last line says how to try an exported
run in the web UI (what `make demo` ends with)."""

import tfrec.stages as stages
from tfrec.config import Config


def test_the_last_line_after_an_export_is_how_to_open_the_web_ui(tmp_path, monkeypatch, capsys):
    def export(art):
        art.run.export.mkdir(parents=True)

    monkeypatch.setitem(stages.STAGES, "export", export)
    cfg = Config(name="hint", run_dir=str(tmp_path / "run"))
    cfg.serving.port = 8601
    stages.run_stages(cfg, ["export"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"try it: tfrec serve {tmp_path / 'run'}, then open http://127.0.0.1:8601/ui/"


def test_no_ui_line_before_anything_is_exported(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(stages.STAGES, "data", lambda art: None)
    stages.run_stages(Config(name="hint", run_dir=str(tmp_path / "run")), ["data"])
    assert "/ui/" not in capsys.readouterr().out
