"""The retrieval serving graph: config-declared extra item features as `item_encoder` inputs,
signature names, the query side run with a tokenizer view of the model's encoder."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tfrec.export.retrieval import example_inputs
from tfrec.export.serving_module import (
    RetrievalServingModule,
    extra_item_inputs,
    numeric_feature_stats,
    run_numeric_stats,
)
from tfrec.export.versions import load_version, save_version
from tfrec.serving.models import load_version as serve_version


def test_query_side_runs_a_tokenizer_view_and_leaves_the_model_as_it_was(exported):
    _, _, data, model, index, _ = exported
    own = model.text_encoder
    module = RetrievalServingModule(
        model, data, index, 5, use_scann=False, tokenizer_implementation="wordpiece"
    )
    assert module.text_encoder is not own
    assert module.text_encoder.tokenizer_implementation == "wordpiece"
    assert model.text_encoder is own  # the model's own encoder was never swapped
    users = data.user_vocab.values[1:2] + ["", "stranger"]
    recent = [[data.catalog.item_ids[1], ""], ["", ""], ["nope", ""]]
    got = module.embed_query(
        tf.constant(["red mug", "", "tent"]), tf.constant(users), tf.constant(recent)
    )
    want = model.query_embeddings(
        {
            "query": tf.constant(["red mug", "", "tent"]),
            "user_idx": data.user_vocab.lookup(users),
            "history": data.item_vocab.lookup(sum(recent, [])).reshape(3, 2),
        }
    )
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    assert model.text_encoder is own


def test_numeric_feature_stats_are_mean_and_std_of_known_values():
    items = pd.DataFrame({"rating": [1.0, 3.0, None], "none": [None, None, None]})
    stats = numeric_feature_stats(items, ["rating", "none"])
    np.testing.assert_allclose(stats, [[2.0, 1.0], [0.0, 1.0]])


def test_item_encoder_takes_config_declared_extra_features(with_extras, tmp_path):

    cfg, run, data, model, index = with_extras
    items = pd.read_parquet(run.clean_table("items"))
    extras = extra_item_inputs(data.catalog.extra_feature_names)
    assert [(e.name, e.kind) for e in extras] == [
        ("material", "categorical"),
        ("rating", "numeric"),
        ("origin", "text"),
    ]
    module = RetrievalServingModule(
        model, data, index, 5, use_scann=False, numeric_stats=run_numeric_stats(run, data)
    )
    info = {"optional_inputs": {e.name: e.default for e in extras}}
    requests = example_inputs(data, index, 5, extras)
    path = save_version(module, tmp_path / "tfrec", "tfrec", requests, info)
    sig = load_version(path).signatures["item_encoder"]
    spec = sig.structured_input_signature[1]
    assert spec["rating"].dtype == tf.float32 and spec["material"].dtype == tf.string

    # the catalog's items with their extra features give the trained catalog embeddings
    rows = slice(0, 12)
    part = items.iloc[rows]
    out = sig(
        item_id=tf.constant(part.item_id.tolist()),
        title=tf.constant(part.title.tolist()),
        description=tf.constant([""] * 12),
        category=tf.constant(part.category.tolist()),
        brand=tf.constant(part.brand.tolist()),
        price=tf.constant(part.price.to_numpy(np.float32)),
        material=tf.constant(part.material.fillna("").tolist()),
        rating=tf.constant(part.rating.to_numpy(np.float32)),
        origin=tf.constant(part.origin.tolist()),
    )
    positions = data.item_vocab.lookup(part.item_id.tolist())
    want = model.all_item_embeddings()[positions]
    np.testing.assert_allclose(out["embedding"].numpy(), want, atol=2e-4)

    # the server fills omitted extras as unknown; unknown differs from a known value
    version = serve_version("tfrec", path)
    base = {
        k: np.array(v.tolist(), dtype=object)
        for k, v in part.iloc[:2][["item_id", "title", "category", "brand"]].items()
    }
    base["description"] = np.array(["", ""], object)
    base["price"] = part.price.iloc[:2].to_numpy(np.float32)
    unknown = version.run("item_encoder", dict(base))["embedding"]
    known = version.run(
        "item_encoder",
        {**base, "material": np.array(["steel", "steel"], object), "rating": np.float32([4, 4])},
    )["embedding"]
    assert not np.allclose(unknown, known, atol=1e-4)
    filled = version.run(
        "item_encoder",
        {**base, "material": np.array(["", ""], object), "rating": np.float32([np.nan] * 2)},
    )["embedding"]
    np.testing.assert_allclose(unknown, filled, atol=1e-6)


def test_extra_feature_names_are_made_valid_and_clashes_named():

    got = extra_item_inputs({"categorical": ["size (EU)"], "numeric": ["_weight"]})
    assert [e.name for e in got] == ["size__EU_", "x_weight"]
    with pytest.raises(ValueError, match=r"\['brand'\] clash"):
        extra_item_inputs({"text": ["brand"]})
