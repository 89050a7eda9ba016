"""Keras Tuner hyperparameter search over tfrec configs (`tfrec tune CONFIG`).

The search space itself (tunable keys, default spaces, the checks run when a config is loaded)
belongs to the config: `tfrec.config.search_space`. Here:

- `space`: a search space <-> Keras Tuner hyperparameters, and the config of one trial;
- `hypermodels`: `RetrievalHyperModel` / `RankingHyperModel` map `hp` to a copy of the config and
  build the ordinary models from it;
- `tuner`: `ConfigTuner`, a Keras Tuner `BaseTuner` whose `run_trial` builds and fits the
  tf-keras models under the config's `tf.distribute` strategy (oracle, trial storage, resume and
  chief/worker mode are Keras Tuner's own);
- `report`: the trials table (CSV), the objective-by-trial plot and `report/tuning.html`;
- `search`: `run_tuning(cfg, run)`, called by the `tune` stage; it writes `tuning/` of the run.

Example:
    >>> from tfrec.tuning import run_tuning
    >>> summary = run_tuning(cfg, RunDir(cfg.run_path))
"""

from tfrec.tuning.search import make_tuner, run_tuning
from tfrec.tuning.tuner import ConfigTuner

__all__ = ["ConfigTuner", "make_tuner", "run_tuning"]
