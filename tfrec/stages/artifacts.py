"""What one stage of a run hands to the next, held for the length of one `tfrec run`."""

from __future__ import annotations

from tfrec.config import Config
from tfrec.core.rundir import RunDir
from tfrec.data.prepared import PreparedData, load_prepared
from tfrec.models.retrieval import RetrievalModel
from tfrec.training.retrieval import load_retrieval_model


class RunArtifacts:
    """The prepared data and the trained retrieval model of one run, loaded on first use and
    shared by the stages that follow (evaluate, ranking, shop, index and export all read the
    same model), replaced when a stage writes new ones. One object per `tfrec run` or
    subcommand: nothing outlives it.

    Args:
        cfg: the run's config.
        run: its run directory.

    Example:
        >>> art = RunArtifacts(cfg, RunDir(cfg.run_path))  # doctest: +SKIP
        >>> art.data().summary()["items"]  # doctest: +SKIP
    """

    def __init__(self, cfg: Config, run: RunDir):
        self.cfg = cfg
        self.run = run
        self._data: PreparedData | None = None
        self._model: RetrievalModel | None = None

    def data(self) -> PreparedData:
        """The prepared data (rebuilt from `data/clean` on first use)."""
        if self._data is None:
            self._data = load_prepared(self.cfg, self.run)
        return self._data

    def set_data(self, data: PreparedData) -> None:
        """New data (the data stage): a model of older data no longer applies."""
        self._data = data
        self._model = None

    def retrieval_model(self) -> RetrievalModel:
        """The trained retrieval model (restored from `retrieval/model` on first use)."""
        if self._model is None:
            self._model = load_retrieval_model(self.cfg, self.run, self.data())
        return self._model

    def set_retrieval_model(self, model: RetrievalModel) -> None:
        self._model = model
