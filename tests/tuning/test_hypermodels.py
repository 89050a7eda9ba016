"""`make_hypermodel` picks the HyperModel of `tuning.model`; both share `ConfigHyperModel`."""

import pytest

from tfrec.config import Config
from tfrec.core.rundir import RunDir
from tfrec.tuning.base import ConfigHyperModel
from tfrec.tuning.hypermodels import make_hypermodel
from tfrec.tuning.ranking import RankingHyperModel
from tfrec.tuning.retrieval import RetrievalHyperModel


@pytest.mark.parametrize(
    ("model", "cls", "objective"),
    [
        ("retrieval", RetrievalHyperModel, "val_recall_at_50"),
        ("ranking", RankingHyperModel, "val_click_auc"),
    ],
)
def test_make_hypermodel_picks_the_configured_model(tmp_path, model, cls, objective):
    cfg = Config()
    cfg.tuning.model = model
    hypermodel = make_hypermodel(cfg, {}, RunDir(tmp_path), objective)
    assert type(hypermodel) is cls and isinstance(hypermodel, ConfigHyperModel)
    assert hypermodel.objective == objective and hypermodel.name == model
    cfg.tuning.model = "neither"
    with pytest.raises(ValueError, match="unknown tuning.model 'neither'"):
        make_hypermodel(cfg, {}, RunDir(tmp_path), objective)


@pytest.mark.slow
def test_top_k_layers_trials_train_through_the_frozen_layer_caches(tmp_path, tiny_bert_dir):
    """A top_k_layers trial fills the frozen-layer caches and its batches carry no strings; a
    frozen trial has neither."""
    import keras_tuner as kt
    from tiny_shop import make_shop

    from tfrec.data.prepared import prepare_data

    cfg = Config()
    cfg.text.checkpoint = str(tiny_bert_dir)
    cfg.text.cache_dir = str(tmp_path / "cache")
    cfg.text.max_length = 16
    cfg.text.mode = "top_k_layers"
    cfg.text.trainable_layers = 1
    cfg.retrieval.embedding_dim = 16
    cfg.retrieval.projection_layers = [32]
    cfg.retrieval.batch_size = 8
    items, events = make_shop()
    data = prepare_data(items, events, cfg.data.split, cfg.retrieval.price_buckets)
    hypermodel = RetrievalHyperModel(cfg, {}, RunDir(tmp_path), data=data)
    hp = kt.HyperParameters()
    model = hypermodel.build(hp)
    assert model.item_layer_cache.num_texts == len(data.catalog)
    batch = next(iter(hypermodel.train_dataset(hypermodel.config(hp))))
    assert "query" not in batch and "query_idx" in batch
    history = hypermodel.fit(hp, model, epochs=1, steps_per_epoch=2, verbose=0)
    assert "val_recall_at_100" in history.history
    cfg.text.mode = "frozen"
    frozen = RetrievalHyperModel(cfg, {}, RunDir(tmp_path), data=data)
    assert frozen.build(hp).item_layer_cache is None
