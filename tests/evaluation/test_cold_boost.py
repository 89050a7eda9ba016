"""The cold boost chosen on validation: the rule, the table it prints, the callback."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from tiny_shop import make_shop_with_new_items

import tfrec  # noqa: F401
from tfrec.config import Config, SplitConfig
from tfrec.data.datasets import retrieval_dataset
from tfrec.data.prepared import prepare_data
from tfrec.evaluation.cold_boost import ColdBoostChooser, choose_cold_boost
from tfrec.evaluation.retrieval import evaluate_scorers
from tfrec.evaluation.scorers import model_scorer, zero_shot_scorer
from tfrec.models.retrieval import build_retrieval_model


@pytest.fixture(scope="module")
def trained():
    items, events = make_shop_with_new_items()
    data = prepare_data(items, events, SplitConfig(test_days=5, val_days=5))
    rng = np.random.default_rng(0)
    item = rng.normal(size=(len(data.catalog), 16)).astype("float32")
    query = rng.normal(size=(len(data.queries), 16)).astype("float32")
    item[0] = query[0] = 0
    cfg = Config()
    cfg.retrieval.projection_layers = [32]
    cfg.retrieval.id_embedding_dim = 8
    cfg.retrieval.learning_rate = 0.01
    tf.keras.utils.set_random_seed(0)
    model = build_retrieval_model(cfg, data, item, query)
    model.fit(retrieval_dataset(data, "train", batch_size=32), epochs=2, verbose=0)
    return data, model


def test_the_choice_follows_the_rule_and_boost_0_is_the_model(trained):
    data, model = trained
    grid = (0.0, 0.1, 0.5, 2.0)
    choice = choose_cold_boost(data, model, grid=grid)
    table = pd.DataFrame(choice["rows"])
    assert set(table["boost"]) == set(grid) and choice["boost"] in grid
    assert {"all", "cold"} <= set(table["slice"])
    table["gap"] = table["recall"] - table["zero_shot"]
    worst = table.groupby("boost")["gap"].min()
    cold = table[table["slice"] == "cold"].groupby("boost")["gap"].min()
    held = worst[(worst >= 0) & (cold > 0)].index
    assert choice["held"] == bool(len(held))
    if len(held):
        assert choice["boost"] == min(held)
    else:
        assert worst[choice["boost"]] == worst.max()
    assert table["ndcg"].between(0, 1).all()
    # boost 0 is the model as trained; zero-shot is the free baseline, measured the same way
    assert float(model.item_tower.cold_boost.numpy()) == 0.0
    for task in table["task"].unique():
        res = evaluate_scorers(
            data,
            {
                "trained": model_scorer(data, model),
                "zero_shot": zero_shot_scorer(
                    data, model.item_text_table.numpy(), model.query_text_table.numpy()
                ),
            },
            task,
            "val",
            ks=[100],
            max_instances=2000,
            curve_k=1,
        )
        for sl, by in res["slices"].items():
            row = table[(table.task == task) & (table.slice == sl) & (table.boost == 0.0)].iloc[0]
            assert row["recall"] == pytest.approx(by["trained"]["recall@100"])
            assert row["zero_shot"] == pytest.approx(by["zero_shot"]["recall@100"])


def test_a_large_boost_moves_items_without_an_id_up(trained):
    data, model = trained
    table = pd.DataFrame(choose_cold_boost(data, model, grid=(0.0, 5.0))["rows"])
    cold = table[table["slice"] == "cold"].groupby("boost")["recall"].mean()
    assert cold[5.0] >= cold[0.0]


def test_the_callback_assigns_the_choice_or_the_fixed_value(trained, capsys):
    data, model = trained
    chooser = ColdBoostChooser(data, fixed=0.2)
    chooser.set_model(model)
    chooser.on_train_end()
    assert chooser.chosen == 0.2
    assert float(model.item_tower.cold_boost.numpy()) == pytest.approx(0.2)
    chooser = ColdBoostChooser(data)
    chooser.set_model(model)
    chooser.on_train_end()
    out = capsys.readouterr().out
    assert "cold boost on validation" in out and "zero-shot" in out
    assert float(model.item_tower.cold_boost.numpy()) == pytest.approx(chooser.chosen)
    model.item_tower.cold_boost.assign(0.0)


def test_bad_grid_and_a_model_without_ids(trained):
    data, model = trained
    with pytest.raises(ValueError, match=">= 0"):
        choose_cold_boost(data, model, grid=(-1.0,))
    cfg = Config()
    cfg.retrieval.item_id_embedding = False
    plain = build_retrieval_model(
        cfg, data, model.item_text_table.numpy(), model.query_text_table.numpy()
    )
    with pytest.raises(ValueError, match="no item id embeddings"):
        choose_cold_boost(data, plain)
