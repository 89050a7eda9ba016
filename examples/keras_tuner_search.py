"""A Keras Tuner search over the two-tower model: temperature, learning rate, embedding size.

Keras Tuner 1.4.8 builds Keras 3 models and rejects tf-keras ones in `Tuner._try_build`, so, as
Keras Tuner documents for custom training loops, the tuner below overrides `run_trial`: it
builds tfrec's model from the trial's hyperparameters, fits it, and returns the objective.
The oracle (random search here; `kt.oracles.BayesianOptimizationOracle` works the same way),
trial storage and resume are Keras Tuner's own. The config as given is trained too, with the
same epochs and seed, and kept when no trial beats it (what `tfrec tune` does as well).

    python examples/keras_tuner_search.py --size tiny
    python examples/keras_tuner_search.py
"""

# ruff: noqa: I001  (example_shop imports tfrec, which must come before TensorFlow)
from __future__ import annotations

import copy
import json

from example_shop import example_args, example_shop
from two_tower_retrieval import train_two_tower

import keras_tuner as kt


class TwoTowerTuner(kt.RandomSearch):
    """`RandomSearch` whose trials are tfrec two-tower trainings (tf-keras).

    Args:
        cfg: Config. The config the trials start from.
        data: PreparedData. The shop the trials train on.
        **kwargs: `kt.RandomSearch` arguments (`objective`, `max_trials`, `directory`, ...).
    """

    def __init__(self, cfg, data, **kwargs):
        super().__init__(hypermodel=None, **kwargs)
        self.cfg, self.data = cfg, data

    def trial_config(self, hp: kt.HyperParameters):
        cfg = copy.deepcopy(self.cfg)
        cfg.retrieval.temperature = hp.Float("temperature", 0.02, 0.5, sampling="log")
        cfg.retrieval.learning_rate = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
        cfg.retrieval.embedding_dim = hp.Choice("embedding_dim", [16, 32])
        return cfg

    def run_trial(self, trial, *args, **kwargs):
        _, history, _ = train_two_tower(self.trial_config(trial.hyperparameters), self.data)
        return {"val_recall_at_10": max(history.history["val_recall_at_10"])}


def main(argv=None) -> dict:
    args = example_args(__doc__.splitlines()[0], argv)
    cfg, data, _ = example_shop(args)
    max_trials = 2 if args.size == "tiny" else 8
    tuner = TwoTowerTuner(
        cfg,
        data,
        objective=kt.Objective("val_recall_at_10", direction="max"),
        max_trials=max_trials,
        seed=cfg.training.seed,
        directory=str(args.workdir / "search"),
        project_name="two_tower",
        overwrite=True,
    )
    tuner.search()
    best_trial = tuner.oracle.get_best_trials(1)[0]
    best = {"objective": best_trial.score, "values": best_trial.hyperparameters.values}
    _, history, _ = train_two_tower(cfg, data)  # the default: same epochs, same seed
    default = max(history.history["val_recall_at_10"])
    winner = "trial" if best["objective"] > default else "default"
    print(
        f"best trial val_recall_at_10 {best['objective']:.4f} {best['values']}; "
        f"default config {default:.4f}; keeping the {winner}"
        + (" (no trial beat the config as given)" if winner == "default" else "")
    )
    result = {
        "best": best,
        "default": default,
        "winner": winner,
        "trials": len(tuner.oracle.trials),
    }
    print("result: " + json.dumps(result))
    return result


if __name__ == "__main__":
    main()
