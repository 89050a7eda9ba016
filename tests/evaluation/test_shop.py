"""The `shop` stage on a tiny trained run: every section in metrics.json, report/shop.html, and
the `tfrec recommend | similar | complementary | search` commands on the same run."""

import json

import pytest
from tiny_run import make_tiny_run

import tfrec  # noqa: F401
from tfrec.cli import main
from tfrec.config import save_config
from tfrec.evaluation.shop import session_positions
from tfrec.stages.artifacts import RunArtifacts
from tfrec.stages.shop import run_shop


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tiny_bert_dir):
    root = tmp_path_factory.mktemp("shop_run")
    cfg, run, data, model, _ = make_tiny_run(root, tiny_bert_dir)
    cfg.shop.max_similar_anchors = 20
    cfg.shop.mmr_lambdas = [1.0, 0.3]
    path = root / "tiny.yaml"
    save_config(cfg, path)
    return cfg, run, data, model, path


def test_session_positions_use_only_the_state_before_t(tiny):
    _, _, data, _, _ = tiny
    pos = session_positions(data)
    assert len(pos)
    for _, row in pos.iterrows():
        assert row.target not in row.session and len(row.session) >= 1


def test_shop_stage_writes_every_section(tiny):
    cfg, run, data, model, _ = tiny
    art = RunArtifacts(cfg, run)
    art.set_data(data)
    art.set_retrieval_model(model)
    m = run_shop(art)
    saved = json.loads(run.metrics.read_text())["shop"]
    for key in ("feed", "session", "cold_start", "similar", "complementary", "explanations"):
        assert key in saved, key
    assert [r["lambda"] for r in saved["diversity"]] == [1.0, 0.3]
    for row in saved["diversity"]:
        assert 0 <= row["ndcg@10"] <= 1 and 0 < row["catalog_coverage"] <= 1
    sl = m["session"]["slices"]["all"]
    assert set(sl) >= {"no_session", "session_in_history", "popularity"}
    page = run.report_page("shop").read_text()
    assert "Session intent" in page and "data:image/png;base64" in page


def _json_result(out: str):
    """The `--json` result: the run's loading lines (`[text] ...`) come before it."""
    lines = out.splitlines()
    return json.loads("\n".join(lines[lines.index("{") :]))


def test_commands(tiny, capsys):
    cfg, run, data, _, path = tiny
    user = data.retrieval[data.retrieval.user_idx > 0].user_id.iloc[0]
    assert main(["recommend", str(path), "--user-id", user, "-k", "3"]) == 0
    assert "source: personalised" in capsys.readouterr().out
    assert main(["recommend", str(path), "--user-id", "ghost", "--json", "-k", "2"]) == 0
    out = _json_result(capsys.readouterr().out)
    assert out["source"] == "popularity" and len(out["items"]) == 2
    assert main(["similar", str(path), "i1", "-k", "2"]) == 0
    assert "semantic" in capsys.readouterr().out
    assert main(["complementary", str(path), "i1", "--cart", "i2", "-k", "2"]) == 0
    assert "bundle" in capsys.readouterr().out
    assert main(["search", str(path), "red shoes", "-k", "2"]) == 0
    assert "search 'red shoes'" in capsys.readouterr().out
    assert main(["similar", str(path), "nope"]) == 2
    assert "unknown item id 'nope'" in capsys.readouterr().err
