"""The winner of a search: its best trial or the config as given, compared on equal terms.

A search must never hand back a config that trains worse than the one it started from. The
best trial and the default config are compared after the same training: the same epochs
(`tuning.epochs`), the same seeds (`training.seed + execution`, `tuning.executions_per_trial`
executions averaged), from scratch, the objective read at the best epoch. A random or Bayesian
trial was trained exactly so, and its objective is used as it is; a Hyperband trial (fewer
epochs, or warm-started from an earlier bracket) is retrained from scratch with those settings
first. Ties go to the default: the search found nothing better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tfrec.config import Config
from tfrec.core.log import echo


@dataclass
class Verdict:
    """Which config `best_config.yaml` holds, and why.

    Args:
        winner: str. `default` (the config as given) or `trial` (the best trial's config).
        trial_objective: float. The best trial's objective under the comparison's training.
        default_objective: float or None. The default config's objective (None: not trained,
            or it failed).
        retrained: bool. True when the best trial was retrained for the comparison.
        reason: str. One sentence for the log, the YAML header and the report.

    Example:
        >>> pick_winner(0.31, 0.30, "max").winner
        'default'
    """

    winner: str
    trial_objective: float
    default_objective: float | None
    retrained: bool
    reason: str


def pick_winner(
    trial: float, default: float | None, direction: str, retrained: bool = False
) -> Verdict:
    """Compare the best trial's objective with the default config's.

    Args:
        trial: float. The best trial's objective, trained like the default.
        default: float or None. The default config's objective; None when it was not trained
            (`tuning.compare_with_default: false`) or failed, and then the trial wins.
        direction: str. `max` or `min`: which way the objective is better.
        retrained: bool. Whether `trial` comes from a retraining (recorded in the verdict).

    Returns:
        A `Verdict`; ties (and a trial whose objective is not a number) go to the default.

    Raises:
        ValueError: `direction` is neither `max` nor `min`.

    Example:
        >>> pick_winner(0.25, 0.20, "max").winner
        'trial'
        >>> pick_winner(0.25, 0.20, "min").winner
        'default'
    """
    if direction not in ("max", "min"):
        raise ValueError(f"tuning.direction must be max or min, got {direction!r}")
    if default is None or not math.isfinite(default):
        reason = "the default config was not trained for comparison, so the best trial is kept"
        return Verdict("trial", trial, default, retrained, reason)
    better = trial > default if direction == "max" else trial < default
    if better and math.isfinite(trial):
        reason = f"the best trial beats the default config ({trial:.4f} vs {default:.4f})"
        return Verdict("trial", trial, default, retrained, reason)
    reason = (
        f"the default config wins ({default:.4f} vs the best trial's {trial:.4f}); "
        "the search found nothing better, so best_config.yaml is the config as given"
    )
    return Verdict("default", trial, default, retrained, reason)


def needs_retraining(hp_values: dict, epochs: int) -> bool:
    """Whether a trial was trained differently from the default config's comparison run:
    a Hyperband trial with other epochs, a later start or warm-started weights.

    Args:
        hp_values: dict. The trial's `hyperparameters.values` (with Keras Tuner's `tuner/...`).
        epochs: int. `tuning.epochs`, the epochs the default config is trained for.

    Example:
        >>> needs_retraining({"retrieval.temperature": 0.1}, 3)
        False
        >>> needs_retraining({"tuner/epochs": 1, "tuner/initial_epoch": 0}, 3)
        True
    """
    if hp_values.get("tuner/trial_id"):
        return True
    if int(hp_values.get("tuner/initial_epoch", 0) or 0) != 0:
        return True
    return int(hp_values.get("tuner/epochs", epochs)) != epochs


def comparable_trial_objective(tuner, cfg: Config, trial_cfg: Config, hp_values: dict, value):
    """The best trial's objective under the default config's training (retrained if needed).

    Args:
        tuner: ConfigTuner. Trains a config as a trial does (`train_config`).
        cfg: Config. The run's config (`tuning.epochs`, `tuning.executions_per_trial`).
        trial_cfg: Config. The best trial's config.
        hp_values: dict. The best trial's hyperparameter values.
        value: float. The best trial's objective from the search.

    Returns:
        `(objective, retrained)`; the objective is NaN when the retraining failed.

    Example:
        >>> comparable_trial_objective(tuner, cfg, best_cfg, trial.hyperparameters.values, 0.3)  # doctest: +SKIP
        (0.3, False)
    """
    t = cfg.tuning
    if not needs_retraining(hp_values, t.epochs):
        return float(value), False
    echo(
        f"[tune] retraining the best trial from scratch for {t.epochs} epoch(s) "
        "(as the default config is trained) to compare them"
    )
    name = tuner.objective.name
    try:
        results = [
            tuner.train_config(trial_cfg, None, epochs=t.epochs, execution=e)
            for e in range(t.executions_per_trial)
        ]
    except Exception as e:  # a trial that fails when retrained cannot win
        echo(f"[tune] retraining the best trial failed: {type(e).__name__}: {e}")
        return float("nan"), True
    return sum(r[name] for r in results) / len(results), True
