"""Versions in TF Serving layout: a version that fails its check is never published, warmup
requests round-trip, version numbers and pruning, the model config."""

import numpy as np
import pytest
import tensorflow as tf

from tfrec.core.rundir import RunDir
from tfrec.export.serving_module import RetrievalServingModule
from tfrec.export.versions import (
    WARMUP_FILE,
    as_tensor_value,
    models_config,
    next_version,
    prune_versions,
    read_warmup,
    save_version,
    write_warmup,
)


def test_a_version_that_fails_its_check_is_never_published(exported):
    cfg, run, data, model, index, _ = exported
    module = RetrievalServingModule(model, data, index, 5, use_scann=False)
    base = run.export_model("broken")
    bad = {
        "retrieval_bruteforce": {
            "query": np.array(["x"], object),
            "user_id": np.array([""], object),
            "recent_item_ids": np.array([[""]], object),
            "k": np.int32(99),
        }
    }
    with pytest.raises(tf.errors.InvalidArgumentError):
        save_version(module, base, "broken", bad, {})
    assert not base.exists() or not any(base.iterdir())


def test_a_refused_version_is_not_published(exported, tmp_path):
    _, _, data, model, index, _ = exported
    module = RetrievalServingModule(model, data, index, 5, use_scann=False)

    def refuse(loaded):
        raise ValueError("not this one")

    with pytest.raises(ValueError, match="not this one"):
        save_version(module, tmp_path / "m", "m", {}, {}, verify=refuse)
    assert not any((tmp_path / "m").iterdir())


def test_warmup_requests_round_trip(tmp_path):
    path = tmp_path / "assets.extra" / WARMUP_FILE
    requests = {
        "query_encoder": {"query": np.array(["mug", ""], object), "k": np.int32(3)},
        "neighbors": {"embedding": np.ones((1, 2), np.float32)},
    }
    write_warmup(path, "tfrec", requests)
    got = read_warmup(path)
    assert [r.model_spec.signature_name for r in got] == ["query_encoder", "neighbors"]
    assert {r.model_spec.name for r in got} == {"tfrec"}
    assert tf.make_ndarray(got[0].inputs["query"]).tolist() == [b"mug", b""]
    assert tf.make_ndarray(got[0].inputs["k"]) == 3
    np.testing.assert_array_equal(tf.make_ndarray(got[1].inputs["embedding"]), np.ones((1, 2)))


def test_as_tensor_value_encodes_only_strings():
    assert as_tensor_value(np.array([["é", ""]], object)).tolist() == [["é".encode(), b""]]
    assert as_tensor_value(np.float32([1.5])).dtype == np.float32


def test_next_version_and_prune_keep_the_highest(tmp_path):
    base = tmp_path / "tfrec"
    assert next_version(base) == 1
    for v in (1, 2, 10):
        (base / str(v)).mkdir(parents=True)
    (base / ".tmp-11-0").mkdir()  # a version being written is not a version
    assert next_version(base) == 11
    prune_versions(base, 2)
    assert sorted(p.name for p in base.iterdir()) == [".tmp-11-0", "10", "2"]


def test_models_config_lists_each_model_under_the_run(tmp_path):
    run = RunDir(tmp_path / "run")
    text = models_config(run, ["tfrec", "tfrec_ranker"], versions=2)
    assert text.startswith("model_config_list {\n") and text.endswith("}\n")
    assert text.count("config {") == 2
    assert f'base_path: "{(tmp_path / "run" / "export" / "tfrec_ranker").resolve()}"' in text
    assert "latest { num_versions: 2 }" in text and 'model_platform: "tensorflow"' in text
