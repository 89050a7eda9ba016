"""The main job end to end on the real path: the real MiniLM checkpoint, the synthetic shop and
the Online Retail log, through `tfrec run`. These prove that the trained towers beat the
baselines; they take a few minutes and carry the `integration` and `slow` markers."""

import json
from pathlib import Path

import pytest
import yaml

import tfrec  # noqa: F401
from tfrec.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_on_a_small_synthetic_shop_beats_the_baselines(tmp_path, minilm_dir, capsys):
    cfg = yaml.safe_load(Path("configs/quickstart.yaml").read_text())
    cfg["run_dir"] = str(tmp_path / "run")
    # the retrieval path; ranking, shop, export and index have their own tests
    cfg["stages"] = ["data", "retrieval", "evaluate"]
    cfg["data"]["synthetic"].update(num_items=800, num_users=2500, sessions_per_user=6.0)
    cfg["retrieval"]["epochs"] = 6
    cfg["text"]["cache_dir"] = str(tmp_path / "cache")  # encode for real, not from a warm cache
    cfg["training"] = {"verbose": 2}
    path = tmp_path / "demo.yaml"
    path.write_text(yaml.safe_dump(cfg))

    assert main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    print(out[out.index("[evaluate] test split") :])
    assert "[data] catalog 800 items" in out
    assert "[evaluate] test split, whole catalog" in out

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())["retrieval"]
    search = metrics["search"]["slices"]["all"]
    feed = metrics["feed"]["slices"]["all"]
    for baseline in ("popularity", "bm25", "zero_shot"):
        assert search["trained"]["recall@100"] > search[baseline]["recall@100"], baseline
        assert search["trained"]["ndcg@10"] > search[baseline]["ndcg@10"], baseline
    assert feed["trained"]["recall@100"] > feed["popularity"]["recall@100"]
    report = (tmp_path / "run" / "report" / "index.html").read_text()
    # search and feed tables, then trained minus zero-shot per slice
    assert "data:image/png;base64" in report and report.count("<table>") == 3
    assert "trained minus zero-shot" in report


def test_online_retail_model_beats_popularity_on_next_purchases(
    tmp_path, online_retail_path, minilm_dir
):
    cfg = yaml.safe_load(Path("configs/online_retail.yaml").read_text())
    cfg["data"]["transactions"]["path"] = str(online_retail_path)
    cfg["run_dir"] = str(tmp_path / "run")
    cfg["stages"] = ["data", "retrieval", "evaluate"]
    cfg["text"] = {"cache_dir": str(tmp_path / "cache")}
    cfg.setdefault("retrieval", {}).update(epochs=1)
    cfg["training"] = {"verbose": 2}
    cfg["evaluation"] = {"ks": [10, 50], "baselines": ["popularity"]}
    path = tmp_path / "or.yaml"
    path.write_text(yaml.safe_dump(cfg))

    assert main(["run", str(path)]) == 0
    feed = json.loads((tmp_path / "run" / "metrics.json").read_text())["retrieval"]["feed"]
    assert feed["instances"] > 500
    all_ = feed["slices"]["all"]
    assert all_["trained"]["recall@50"] > all_["popularity"]["recall@50"]
