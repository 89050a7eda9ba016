"""The TFRS two-tower model: trains, round-trips through save/load, serves unknown users."""

import numpy as np
import pytest
import tensorflow as tf
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.config import Config, SplitConfig
from tfrec.data.datasets import retrieval_dataset, retrieval_features
from tfrec.data.prepared import prepare_data
from tfrec.models.retrieval import build_retrieval_model


@pytest.fixture(scope="module")
def data():
    items, events = make_shop()
    return prepare_data(items, events, SplitConfig(test_days=5, val_days=5))


def tables(data, dim=16):
    rng = np.random.default_rng(0)
    item = rng.normal(size=(len(data.catalog), dim)).astype("float32")
    query = rng.normal(size=(len(data.queries), dim)).astype("float32")
    item[0] = query[0] = 0
    return item, query


def small_config(**retrieval):
    cfg = Config()
    cfg.retrieval.embedding_dim = 16
    cfg.retrieval.projection_layers = [32]
    cfg.retrieval.id_embedding_dim = 8
    for k, v in retrieval.items():
        setattr(cfg.retrieval, k, v)
    return cfg


def test_training_lowers_the_loss(data):
    tf.keras.utils.set_random_seed(0)
    model = build_retrieval_model(small_config(learning_rate=0.01), data, *tables(data))
    ds = retrieval_dataset(data, "train", batch_size=32)
    hist = model.fit(ds, epochs=6, verbose=0)
    loss = hist.history["loss"]
    assert loss[-1] < loss[0]


@pytest.mark.parametrize(
    "options",
    [{"num_hard_negatives": 4}, {"logq_correction": False, "remove_accidental_hits": False}],
)
def test_task_options_train(data, options):
    model = build_retrieval_model(small_config(**options), data, *tables(data))
    hist = model.fit(retrieval_dataset(data, "train", batch_size=16), epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])


def test_save_load_round_trip_identical_outputs(data, tmp_path):
    cfg = small_config()
    model = build_retrieval_model(cfg, data, *tables(data))
    model.fit(retrieval_dataset(data, "train", batch_size=32), epochs=1, verbose=0)
    model.save_weights(str(tmp_path / "w"))
    again = build_retrieval_model(cfg, data, *tables(data))
    batch = next(iter(retrieval_dataset(data, "train", batch_size=8, shuffle=False)))
    again.compute_loss(batch)
    again.load_weights(str(tmp_path / "w")).assert_existing_objects_matched()
    feats = retrieval_features(data, data.search_eval["test"])
    feats.pop("query")
    np.testing.assert_array_equal(
        model.query_embeddings(feats).numpy(), again.query_embeddings(feats).numpy()
    )
    np.testing.assert_array_equal(model.all_item_embeddings(), again.all_item_embeddings())


@pytest.mark.parametrize("residual", [True, False])
def test_unknown_user_without_history_or_query_gets_an_embedding(data, residual):
    tf.keras.utils.set_random_seed(0)
    model = build_retrieval_model(small_config(text_residual=residual), data, *tables(data))
    model.fit(retrieval_dataset(data, "train", batch_size=32), epochs=1, verbose=0)
    emb = model.query_embeddings(
        {
            "query_idx": np.array([0]),
            "user_idx": np.array([0]),
            "history": np.zeros((1, data.max_history), np.int64),
        }
    ).numpy()
    assert emb.shape == (1, 16)
    assert np.isclose(np.linalg.norm(emb), 1.0, atol=1e-5)


def _unit(x):
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def test_untrained_model_scores_exactly_as_the_zero_shot_encoder(data):
    """With the text residual, epoch 0 is the backbone: query . item = cosine of their texts
    (search), and cosine of the mean history text with the item text (feed)."""
    item_text, query_text = tables(data)
    model = build_retrieval_model(small_config(), data, item_text, query_text)
    items = model.all_item_embeddings()
    search = data.search_eval["test"]
    feats = retrieval_features(data, search)
    feats.pop("query")
    got = model.query_embeddings(feats).numpy() @ items[1:].T
    want = _unit(query_text[search["query_idx"].to_numpy()]) @ _unit(item_text[1:]).T
    np.testing.assert_allclose(got, want, atol=1e-5)

    feed = data.feed_eval["test"]
    feed = feed[[(h > 0).any() for h in feed["history"]]]
    feats = retrieval_features(data, feed)
    feats.pop("query")
    got = model.query_embeddings(feats).numpy() @ items[1:].T
    hist = np.stack([_unit(_unit(item_text[h[h > 0]]).sum(axis=0)) for h in feed["history"]])
    np.testing.assert_allclose(got, hist @ _unit(item_text[1:]).T, atol=1e-5)


def test_item_id_embedding_learns_for_known_items_only(data):
    tf.keras.utils.set_random_seed(0)
    model = build_retrieval_model(small_config(learning_rate=0.01), data, *tables(data))
    known = data.item_train_counts > 0
    assert known.any() and (~known[1:]).any()
    model.fit(retrieval_dataset(data, "train", batch_size=32), epochs=2, verbose=0)
    table = model.item_tower.item_id_embedding.embeddings.numpy()
    assert np.abs(table[np.flatnonzero(known)]).sum() > 0
    # never-trained rows stay at their zero start: unknown items take the content path alone
    assert np.abs(table[np.flatnonzero(~known)]).sum() == 0
    rows = model.item_id_rows.numpy()
    assert (rows[~known] == 0).all() and (rows[known] == np.flatnonzero(known)).all()


def test_an_older_checkpoint_is_refused_with_the_reason(data, tmp_path):
    from tfrec.core.rundir import RunDir
    from tfrec.training.retrieval import load_retrieval_model

    cfg = small_config(text_residual=False, item_id_embedding=False)
    old = build_retrieval_model(cfg, data, *tables(data))
    batch = next(iter(retrieval_dataset(data, "train", batch_size=8, shuffle=False)))
    old.compute_loss(batch)
    run = RunDir(tmp_path)
    run.retrieval_weights.parent.mkdir(parents=True)
    old.save_weights(str(run.retrieval_weights))
    new = small_config()
    new.text.cache_dir = str(tmp_path / "cache")
    with pytest.raises(ValueError, match="another architecture"):
        load_retrieval_model_with_tables(new, run, data, load_retrieval_model)


def load_retrieval_model_with_tables(cfg, run, data, loader):
    """`load_retrieval_model` with the test's random text tables instead of BERT's."""
    import tfrec.training.retrieval as training

    original = training.frozen_text_tables
    training.frozen_text_tables = lambda cfg, data: tables(data)
    try:
        return loader(cfg, run, data)
    finally:
        training.frozen_text_tables = original


def test_bad_temperature():
    from tfrec.models.retrieval import RetrievalModel

    with pytest.raises(ValueError, match="temperature"):
        RetrievalModel(
            None, None, np.zeros((2, 4)), np.zeros((2, 3)), np.zeros(2), np.zeros(2), temperature=0
        )


def test_raw_query_strings_need_an_encoder(data):
    model = build_retrieval_model(small_config(), data, *tables(data))
    with pytest.raises(ValueError, match="attach_text_encoder"):
        model.query_embeddings(
            {
                "query": np.array(["shoes"]),
                "user_idx": np.array([0]),
                "history": np.zeros((1, data.max_history), np.int64),
            }
        )


def test_config_declared_extra_item_features(tmp_path):
    items, events = make_shop()
    items["material"] = ["cotton", "steel", None] * 20
    items["rating"] = np.linspace(1, 5, 60)
    items["origin"] = "Made in Portugal"
    features = {"material": "categorical", "rating": "numeric", "origin": "text"}
    data = prepare_data(items, events, SplitConfig(test_days=5, val_days=5), item_features=features)
    c = data.catalog
    assert c.extra_categorical.shape == (61, 1) and len(c.extra_categorical_vocabs[0]) == 3
    assert c.extra_categorical[3, 0] == 0  # missing -> unknown
    assert abs(c.extra_numeric[1:, 0].mean()) < 1e-6
    assert c.texts[1].endswith("origin: Made in Portugal")
    model = build_retrieval_model(small_config(), data, *tables(data))
    model.fit(retrieval_dataset(data, "train", batch_size=16), epochs=1, verbose=0)
    assert model.all_item_embeddings().shape == (61, 16)
    names = [w.name for w in model.item_tower.weights]
    assert any("extra_categorical_0" in n for n in names)


def test_declared_feature_missing_from_items_is_a_clear_error():
    items, events = make_shop()
    with pytest.raises(
        ValueError, match=r"declares \['colour'\] but the items table has no such column"
    ):
        prepare_data(
            items,
            events,
            SplitConfig(test_days=5, val_days=5),
            item_features={"colour": "categorical"},
        )


def test_item_embeddings_are_cached_until_the_weights_change(data):
    model = build_retrieval_model(small_config(learning_rate=0.01), data, *tables(data))
    first = model.all_item_embeddings()
    assert model.all_item_embeddings() is first  # shared by later stages, not recomputed
    with pytest.raises(ValueError):
        first[1, 0] = 0.0  # read-only: no caller can corrupt the shared copy
    model.fit(retrieval_dataset(data, "train", batch_size=32), epochs=1, verbose=0)
    after = model.all_item_embeddings()
    assert after is not first and not np.allclose(after, first)


def test_the_item_embedding_memo_is_in_no_checkpoint(data, tmp_path):
    model = build_retrieval_model(small_config(), data, *tables(data))
    model.all_item_embeddings()
    tracked = {type(t).__name__ for t in model._self_tracked_trackables}
    assert "_ItemEmbeddingMemo" not in tracked
    path = tf.train.Checkpoint(model=model).save(str(tmp_path / "ckpt"))
    names = [name for name, _ in tf.train.list_variables(path)]
    assert not [n for n in names if "memo" in n.lower()]
    again = build_retrieval_model(small_config(), data, *tables(data))
    tf.train.Checkpoint(model=again).restore(path).assert_existing_objects_matched()
    np.testing.assert_array_equal(again.all_item_embeddings(), model.all_item_embeddings())


def test_query_embeddings_take_another_text_encoder_for_one_call(data):
    model = build_retrieval_model(small_config(), data, *tables(data))
    feats = {
        "query": tf.constant(["mug", ""]),
        "user_idx": np.array([1, 0]),
        "history": np.array([[1, 2], [0, 0]]),
    }
    with pytest.raises(ValueError, match="need a text encoder"):
        model.query_embeddings(feats)  # a frozen-mode model has none of its own

    def constant(value):
        return lambda texts, training=False: tf.fill([tf.shape(texts)[0], model.text_dim], value)

    first = model.query_embeddings(feats, text_encoder=constant(0.5)).numpy()
    other = model.query_embeddings(feats, text_encoder=constant(-0.5)).numpy()
    assert model.text_encoder is None  # the model is left as it was
    assert not np.allclose(first[0], other[0])
    model.attach_text_encoder(constant(0.5))
    np.testing.assert_allclose(model.query_embeddings(feats).numpy(), first, atol=1e-6)


def test_cold_boost_scales_new_items_outside_training_only():
    from tiny_shop import make_shop_with_new_items

    data = prepare_data(*make_shop_with_new_items(), SplitConfig(test_days=5, val_days=5))
    tf.keras.utils.set_random_seed(0)
    model = build_retrieval_model(small_config(learning_rate=0.01), data, *tables(data))
    model.fit(retrieval_dataset(data, "train", batch_size=32), epochs=1, verbose=0)
    before = np.array(model.all_item_embeddings())
    np.testing.assert_allclose(np.linalg.norm(before[1:], axis=1), 1.0, atol=1e-5)
    model.item_tower.cold_boost.assign(0.25)
    after = model.all_item_embeddings()  # the boost is a weight: the memo sees the change
    no_id = model.item_new.numpy() > 0
    np.testing.assert_array_equal(no_id, data.new_items)
    assert no_id.any() and (~no_id[1:]).any() and (model.item_id_rows.numpy()[no_id] == 0).all()
    np.testing.assert_allclose(after[no_id], 1.25 * before[no_id], rtol=1e-5)
    np.testing.assert_allclose(after[1:][~no_id[1:]], before[1:][~no_id[1:]], rtol=1e-6)
    idx = tf.constant(np.flatnonzero(no_id)[:4])
    feats = model.item_features(idx)
    trained_path = model.item_tower(feats, training=True).numpy()
    np.testing.assert_allclose(np.linalg.norm(trained_path, axis=1), 1.0, atol=1e-5)
    unboosted = model.item_tower(feats, boost_cold=False).numpy()
    np.testing.assert_allclose(unboosted, before[idx.numpy()], rtol=1e-5)
    # an item with no id at all (added after training) is boosted the same way
    feats.pop("item_idx")
    np.testing.assert_allclose(model.item_tower(feats).numpy(), after[idx.numpy()], rtol=1e-5)
    # the query side reads history items unboosted: feed embeddings do not move
    feed = retrieval_features(data, data.feed_eval["test"])
    feed.pop("query")
    q_after = model.query_embeddings(feed).numpy()
    model.item_tower.cold_boost.assign(0.0)
    np.testing.assert_allclose(model.query_embeddings(feed).numpy(), q_after, atol=1e-6)


def test_the_cold_boost_is_saved_with_the_weights(data, tmp_path):
    model = build_retrieval_model(small_config(), data, *tables(data))
    model.all_item_embeddings()
    model.item_tower.cold_boost.assign(0.3)
    model.save_weights(str(tmp_path / "w"))
    other = build_retrieval_model(small_config(), data, *tables(data))
    other.all_item_embeddings()
    other.load_weights(str(tmp_path / "w")).assert_existing_objects_matched()
    assert float(other.item_tower.cold_boost.numpy()) == pytest.approx(0.3)
    no_boost = build_retrieval_model(small_config(item_id_embedding=False), data, *tables(data))
    assert no_boost.item_tower.cold_boost is None


def test_a_checkpoint_from_before_the_cold_boost_loads_with_it_at_0(data, tmp_path, capsys):
    from tfrec.core.rundir import RunDir
    from tfrec.training.retrieval import load_retrieval_model

    cfg = small_config()
    old = build_retrieval_model(cfg, data, *tables(data))
    batch = next(iter(retrieval_dataset(data, "train", batch_size=8, shuffle=False)))
    old.compute_loss(batch)
    run = RunDir(tmp_path)
    run.retrieval_weights.parent.mkdir(parents=True)
    # the checkpoint as the code before the boost wrote it: every weight but the boost
    tower = old.item_tower
    tower._self_unconditional_checkpoint_dependencies = [
        dep for dep in tower._self_unconditional_checkpoint_dependencies if dep.name != "cold_boost"
    ]
    tower._self_unconditional_dependency_names.pop("cold_boost")
    old.save_weights(str(run.retrieval_weights))
    names = [n for n, _ in tf.train.list_variables(str(run.retrieval_weights))]
    assert not any("cold_boost" in n for n in names)
    cfg.text.cache_dir = str(tmp_path / "cache")
    new = load_retrieval_model_with_tables(cfg, run, data, load_retrieval_model)
    assert float(new.item_tower.cold_boost.numpy()) == 0.0
    assert "trained before it existed" in capsys.readouterr().out
