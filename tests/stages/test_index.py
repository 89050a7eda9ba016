"""`tfrec index build|add|eval` on the tiny run: new items are embedded from their text and
upserted into the saved index, eval measures recall and queries/s against brute force, and
the saved index is reused while it matches the model."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tfrec.data.report import DataValidationError
from tfrec.export.serving_module import RetrievalServingModule
from tfrec.index.for_run import index_for_run
from tfrec.index.scann_index import ItemIndex
from tfrec.stages.artifacts import RunArtifacts
from tfrec.stages.index import add_items, eval_index, run_index


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_bert_dir):
    from tiny_run import make_tiny_run

    return make_tiny_run(tmp_path_factory.mktemp("index-run"), tiny_bert_dir)


def test_index_add_embeds_new_items_from_text_and_eval_measures_them(tiny_run, tmp_path, capsys):
    cfg, run, data, model, _ = tiny_run
    new = pd.DataFrame(
        {
            "item_id": ["cold1", "cold2", "i3"],  # two new items and one update
            "title": ["brand new camping tent", "enamel mug", "item number 3 renamed"],
            "category": ["E > F > G", "A > B > C", "A > B > D"],
            "brand": ["brand1", "nobrand", "brand3"],
            "price": [49.0, None, 12.5],
        }
    )
    path = tmp_path / "new_items.csv"
    new.to_csv(path, index=False)
    index = add_items(RunArtifacts(cfg, run), path)
    assert "added 2 new and updated 1 items" in capsys.readouterr().out
    assert len(index) == len(data.catalog) - 1 + 2

    # the saved index holds them, searchable by their item-tower embedding
    again = ItemIndex.load(run.index)
    assert again.item_ids == index.item_ids
    module = RetrievalServingModule(model, data, again, max_k=5, use_scann=False)
    out = module.item_encoder(
        tf.constant(["cold1"]),
        tf.constant(["brand new camping tent"]),
        tf.constant([""]),
        tf.constant(["E > F > G"]),
        tf.constant(["brand1"]),
        tf.constant([49.0]),
    )
    assert not out["in_catalog"].numpy()[0]
    emb = out["embedding"].numpy()
    np.testing.assert_allclose(again.embeddings[again.item_ids.index("cold1")], emb[0], atol=1e-5)
    found, _ = again.search(emb, 1)
    assert found[0][0] == "cold1"
    added = pd.read_parquet(run.added_items)
    assert sorted(added.item_id) == ["cold1", "cold2", "i3"]

    res = eval_index(RunArtifacts(cfg, run))
    assert res["recall_at_10"] == pytest.approx(1.0)  # a tiny catalog is searched exactly
    assert res["index_qps"] > 0 and res["brute_force_qps"] > 0
    assert "recall@10" in capsys.readouterr().out.strip().splitlines()[-1]


def test_index_add_rejects_bad_items_naming_the_file(tiny_run, tmp_path):
    cfg, run, *_ = tiny_run
    path = tmp_path / "bad.csv"
    pd.DataFrame({"item_id": ["x1", "x1"], "title": ["a", "b"], "price": [1.0, -2.0]}).to_csv(
        path, index=False
    )
    with pytest.raises(DataValidationError, match="bad.csv"):
        add_items(RunArtifacts(cfg, run), path)


def test_the_index_stage_builds_and_a_matching_index_is_reused(tiny_run, capsys):
    cfg, run, data, model, _ = tiny_run
    art = RunArtifacts(cfg, run)
    art.set_data(data)
    art.set_retrieval_model(model)
    built = run_index(art)
    assert f"[index] saved to {run.index}" in capsys.readouterr().out
    assert built.item_ids == data.catalog.item_ids[1:]
    again = index_for_run(cfg, run, data, model)
    assert f"[index] using {run.index}" in capsys.readouterr().out
    assert again.item_ids == built.item_ids
