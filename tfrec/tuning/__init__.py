"""Keras Tuner hyperparameter search over tfrec configs (`tfrec tune CONFIG`).

- `space`: search spaces declared in the config (`tuning.search_space`), their defaults and
  checks (pure Python, imported by `tfrec.config`);
- `hypermodels`: `RetrievalHyperModel` / `RankingHyperModel` map `hp` to a copy of the config and
  build the ordinary models from it;
- `tuner`: `ConfigTuner`, a Keras Tuner `BaseTuner` whose `run_trial` builds and fits the
  tf-keras models under the config's `tf.distribute` strategy (oracle, trial storage, resume and
  chief/worker mode are Keras Tuner's own);
- `report`: the trials table (CSV), the objective-by-trial plot, `report/tuning.html` and
  `tuning/best_config.yaml`;
- `search`: `run_tuning(cfg, run)`, the `tune` stage.

Importing this package does not import TensorFlow.
"""

from tfrec.tuning.space import check_tuning, default_search_space, resolve_search_space

__all__ = ["check_tuning", "default_search_space", "resolve_search_space", "run_tuning"]


def run_tuning(*args, **kwargs):
    """`tfrec.tuning.search.run_tuning` (imported on first use: it loads TensorFlow)."""
    from tfrec.tuning.search import run_tuning as _run_tuning

    return _run_tuning(*args, **kwargs)
