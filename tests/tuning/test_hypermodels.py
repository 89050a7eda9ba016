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
