"""The `export` stage on the tiny run, as `tfrec export CONFIG` runs it: data and model loaded
from the run directory, the index built, both retrieval models and the trained ranker exported
and listed in `export/models.config`."""

from tiny_run import make_tiny_ranker, make_tiny_run

from tfrec.stages.artifacts import RunArtifacts
from tfrec.stages.export import run_export


def test_run_export_writes_every_model_and_one_config(tmp_path, tiny_bert_dir, capsys):
    cfg, run, data, model, _ = make_tiny_run(tmp_path, tiny_bert_dir)
    make_tiny_ranker(cfg, run, data, model)
    out = run_export(RunArtifacts(cfg, run))  # loads data and model from the run directory
    assert out == {
        name: run.export_model(name) / "1" for name in ("tfrec", "tfrec_scann", "tfrec_ranker")
    }
    config = run.models_config.read_text()
    names = [line.split('"')[1] for line in config.splitlines() if "name:" in line]
    assert names == ["tfrec", "tfrec_scann", "tfrec_ranker"]
    printed = capsys.readouterr().out
    assert f"[export] TF Serving model config with tfrec_ranker: {run.models_config}" in printed
    assert run.index.is_dir()  # the run had no index: the stage built one
