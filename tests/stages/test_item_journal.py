"""`tfrec export` folds the live-item journal into the run's index: the exported version holds
the items added while serving (a torn last record is left out), with the vectors the item
tower gives them; an item that breaks the contract is an error naming the journal."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the exported graph's tokenizer ops)
from tiny_run import make_tiny_run

from tfrec.core.journal import JournalWriter
from tfrec.data.report import DataValidationError
from tfrec.export.serving_module import RetrievalServingModule
from tfrec.index.kinds import load_item_index
from tfrec.stages.artifacts import RunArtifacts
from tfrec.stages.export import run_export
from tfrec.stages.item_journal import journal_item_rows

NEW = {"item_id": "n1", "title": "brand new camping tent", "category": "E > F > G", "price": 49.0}


def journal(run, *records, torn=b""):
    writer = JournalWriter(run.item_journal)
    for items in records:
        writer.append({"v": 1, "model": {"name": "tfrec_scann", "version": 1}, "items": items})
    writer.close()
    with open(run.item_journal, "ab") as f:
        f.write(torn)


def test_export_folds_the_journal_into_the_exported_index(tmp_path, tiny_bert_dir, capsys):
    cfg, run, data, model, _ = make_tiny_run(tmp_path, tiny_bert_dir)
    journal(
        run,
        [{**NEW, "title": "old title"}],
        [NEW, {"item_id": "n2", "title": "enamel mug"}],
        torn=b'{"v": 1, "items": [{"item_id": "n3"',
    )
    out = run_export(RunArtifacts(cfg, run))
    printed = capsys.readouterr().out
    assert "folding 2 items added while serving into the index" in printed
    assert "left out an incomplete last record" in printed

    index = load_item_index(run.index)
    assert {"n1", "n2"} <= set(index.item_ids) and "n3" not in index.item_ids
    added = pd.read_parquet(run.added_items).set_index("item_id")
    assert added.loc["n1", "title"] == NEW["title"]  # the latest add of an id wins
    module = RetrievalServingModule(model, data, index, max_k=5, use_scann=False)
    emb = module.item_encoder(
        *[tf.constant([NEW.get(c, "")]) for c in ("item_id", "title")],
        tf.constant([""]),
        *[tf.constant([NEW.get(c, "")]) for c in ("category", "brand")],
        tf.constant([NEW["price"]]),
    )["embedding"].numpy()[0]
    np.testing.assert_allclose(index.embeddings[index.item_ids.index("n1")], emb, atol=1e-5)

    exported = tf.saved_model.load(str(out["tfrec"]))
    ids = [x.decode() for x in exported.index_item_ids.numpy()]
    assert {"n1", "n2"} <= set(ids)


def test_a_journal_item_breaking_the_contract_names_the_journal(tmp_path, tiny_bert_dir):
    cfg, run, *_ = make_tiny_run(tmp_path, tiny_bert_dir)
    journal(run, [{"item_id": "x1", "title": "a", "price": -2.0}])
    with pytest.raises(DataValidationError, match="live_items.jsonl"):
        journal_item_rows(RunArtifacts(cfg, run))
