"""HyperModels: `hp` -> a copy of the config -> the ordinary tfrec model built from it, and
`make_hypermodel`, which picks the HyperModel of `tuning.model`.

- `ConfigHyperModel` (`tfrec.tuning.base`): declares the search space, maps `hp` to a config;
- `RetrievalHyperModel` (`tfrec.tuning.retrieval`): the two-tower retrieval model;
- `RankingHyperModel` (`tfrec.tuning.ranking`): the DCN-v2 ranker.
"""

from __future__ import annotations

from tfrec.config import Config, SearchParam
from tfrec.tuning.base import ConfigHyperModel
from tfrec.tuning.ranking import RankingHyperModel
from tfrec.tuning.retrieval import RetrievalHyperModel


def make_hypermodel(cfg: Config, space: dict[str, SearchParam], run, objective: str, data=None):
    """The HyperModel of `cfg.tuning.model`.

    Args:
        cfg: Config. The run's config (`tuning.model`: `retrieval` or `ranking`).
        space: dict. Dotted config key -> `SearchParam`.
        run: RunDir. The run whose data (and, for the ranker, retrieval model) trials use.
        objective: str. The objective the tuner reads from the epoch logs.
        data: PreparedData, optional. The run's prepared data (loaded from `run` otherwise).

    Example:
        >>> hypermodel = make_hypermodel(cfg, resolve_search_space(cfg), run, "val_click_auc")  # doctest: +SKIP
    """
    if cfg.tuning.model == "retrieval":
        return RetrievalHyperModel(cfg, space, run, data, objective=objective)
    if cfg.tuning.model == "ranking":
        return RankingHyperModel(cfg, space, run, data, objective=objective)
    raise ValueError(f"unknown tuning.model {cfg.tuning.model!r}")


__all__ = ["ConfigHyperModel", "RankingHyperModel", "RetrievalHyperModel", "make_hypermodel"]
