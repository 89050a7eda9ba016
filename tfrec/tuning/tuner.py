"""`ConfigTuner`: Keras Tuner's search loop driving tf-keras tfrec models.

Keras Tuner 1.4.8 builds Keras 3 models in `Tuner._try_build` and rejects tf-keras ones, so
`ConfigTuner` extends `BaseTuner` (oracle, trial storage in `directory/project_name`, resume,
chief/worker mode) and implements `run_trial` itself: build the trial's model under the config's
`tf.distribute` strategy, fit it with early stopping on the objective, keep the best epoch's
weights in the trial directory and return the best epoch's logs.

A trial whose loss turns NaN raises `FailedTrialError` (recorded FAILED with the reason); any
other exception (out of memory, a bad value) is recorded by Keras Tuner with its traceback and
the search goes on, until `max_consecutive_failed_trials` trials in a row have failed. An
objective the model does not report stops the search with `FatalValueError`.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from pathlib import Path
from typing import Any

import keras_tuner as kt
import tf_keras as keras
from keras_tuner.src.engine.base_tuner import BaseTuner

from tfrec.config import Config, TuningConfig
from tfrec.core.log import echo

TRIAL_RECORD = "tfrec_trial.json"


class StopOnNaN(keras.callbacks.TerminateOnNaN):
    """`TerminateOnNaN` that remembers where the loss became NaN or infinite."""

    def __init__(self):
        super().__init__()
        self.epoch = 0
        self.where: tuple[int, int] | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and self.where is None:
            self.where = (self.epoch, batch)
        super().on_batch_end(batch, logs)


def make_oracle(t: TuningConfig, objective: str) -> kt.Oracle:
    """The Keras Tuner oracle of `tuning.tuner`, with an explicit objective direction."""
    obj = kt.Objective(objective, direction=t.direction)
    common = {
        "objective": obj,
        "seed": t.seed,
        "max_consecutive_failed_trials": t.max_consecutive_failed_trials,
    }
    if t.tuner == "random":
        return kt.oracles.RandomSearchOracle(max_trials=t.max_trials, **common)
    if t.tuner == "bayesian":
        return kt.oracles.BayesianOptimizationOracle(max_trials=t.max_trials, **common)
    if t.tuner == "hyperband":
        return kt.oracles.HyperbandOracle(
            max_epochs=t.epochs, factor=t.hyperband_factor, hyperband_iterations=1, **common
        )
    raise ValueError(f"unknown tuning.tuner {t.tuner!r}")


class ConfigTuner(BaseTuner):
    """Runs each trial as an ordinary tfrec training of the trial's config.

    Args:
        oracle: keras_tuner.Oracle. Proposes the trials (see `make_oracle`).
        hypermodel: ConfigHyperModel. Maps `hp` to a config and builds and fits its model.
        epochs: int. Epochs per trial (Hyperband sets its own per trial). Defaults to 3.
        early_stopping_patience: int. Epochs without a better objective before a trial stops.
            Defaults to 1.
        executions_per_trial: int. Trainings per trial (seeds seed, seed + 1, ...), averaged.
            Defaults to 1.
        **kwargs: `BaseTuner` arguments: `directory`, `project_name`, `overwrite`.
    """

    def __init__(
        self,
        oracle: kt.Oracle,
        hypermodel,
        epochs: int = 3,
        early_stopping_patience: int = 1,
        executions_per_trial: int = 1,
        **kwargs,
    ):
        self.epochs = epochs
        self.early_stopping_patience = early_stopping_patience
        self.executions_per_trial = executions_per_trial
        self._trial_started: dict[str, float] = {}
        super().__init__(oracle, hypermodel, **kwargs)

    @property
    def objective(self) -> kt.Objective:
        return self.oracle.objective

    def _populate_initial_space(self):
        # The space is declared, not discovered: no model is built to find it.
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    # ---------------------------------------------------------------------------------------
    # Trials
    # ---------------------------------------------------------------------------------------

    def weights_path(self, trial_id: str) -> str:
        return os.path.join(self.get_trial_dir(trial_id), "checkpoint")

    def run_trial(self, trial, *args, **kwargs) -> dict | list[dict]:
        hp = trial.hyperparameters
        cfg = self.hypermodel.config(hp)
        epochs = int(hp.values.get("tuner/epochs", self.epochs))
        initial_epoch = int(hp.values.get("tuner/initial_epoch", 0))
        warm = hp.values.get("tuner/trial_id")
        warm_path = self.weights_path(warm) if warm else None
        if warm_path and not os.path.exists(warm_path + ".index"):
            # the earlier bracket's weights are not here (failed, or another machine): train
            # this trial from scratch for all its epochs
            warm_path, initial_epoch = None, 0
        results = [
            self.train_config(
                cfg,
                self.weights_path(trial.trial_id) if execution == 0 else None,
                epochs=epochs,
                initial_epoch=initial_epoch,
                warm_start=warm_path,
                execution=execution,
            )
            for execution in range(self.executions_per_trial)
        ]
        return results[0] if len(results) == 1 else results

    def train_config(
        self,
        cfg: Config,
        weights_path: str | None,
        epochs: int,
        initial_epoch: int = 0,
        warm_start: str | None = None,
        execution: int = 0,
    ) -> dict[str, float]:
        """Train the model of `cfg` as a trial does; return the best epoch's logs."""
        obj = self.objective
        keras.utils.set_random_seed(cfg.training.seed + execution)
        model = self.hypermodel.build_for_config(cfg)
        if warm_start:
            self.hypermodel.warm_start(model, cfg, warm_start)
        nan = StopOnNaN()
        callbacks = [
            nan,
            keras.callbacks.EarlyStopping(
                monitor=obj.name, mode=obj.direction, patience=self.early_stopping_patience
            ),
        ]
        if weights_path:
            callbacks.append(
                keras.callbacks.ModelCheckpoint(
                    weights_path,
                    monitor=obj.name,
                    mode=obj.direction,
                    save_best_only=True,
                    save_weights_only=True,
                )
            )
        history = self.hypermodel.fit(
            None, model, cfg=cfg, epochs=epochs, initial_epoch=initial_epoch, callbacks=callbacks
        ).history
        losses = history.get("loss", [])
        if nan.where is not None or any(not math.isfinite(v) for v in losses):
            epoch, batch = nan.where or (len(losses) - 1, -1)
            raise kt.errors.FailedTrialError(
                f"loss became NaN or infinite in epoch {epoch + 1}"
                + (f", batch {batch + 1}" if batch >= 0 else "")
                + " (TerminateOnNaN stopped the trial)"
            )
        if obj.name not in history:
            raise kt.errors.FatalValueError(
                f"the objective {obj.name!r} is not reported by the {self.hypermodel.name} "
                f"model; its epoch logs have: {', '.join(sorted(history))}"
            )
        values = history[obj.name]
        pick = max if obj.direction == "max" else min
        best = values.index(pick(values))
        return {k: float(v[best]) for k, v in history.items() if len(v) > best}

    # ---------------------------------------------------------------------------------------
    # Bookkeeping: one small record per trial (who ran it, when, how long, why it failed)
    # ---------------------------------------------------------------------------------------

    def on_trial_begin(self, trial):
        self._trial_started[trial.trial_id] = time.time()
        echo(
            f"[tune] trial {trial.trial_id} on {self.tuner_id}: {self.hypermodel.values(trial.hyperparameters)}"
        )

    def on_trial_end(self, trial):
        # The oracle records the trial first, so a trial with a record has its result saved
        # (a search killed after that resumes with the next trial).
        try:
            super().on_trial_end(trial)
        finally:
            self._write_record(trial)

    def _write_record(self, trial) -> None:
        path = Path(self.get_trial_dir(trial.trial_id)) / TRIAL_RECORD
        record = json.loads(path.read_text()) if path.exists() else {"runs": []}
        started = self._trial_started.pop(trial.trial_id, time.time())
        record["runs"].append(
            {
                "tuner_id": self.tuner_id,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "started": started,
                "seconds": round(time.time() - started, 2),
                "status": str(trial.status),
                "error": failure_reason(trial.message),
            }
        )
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(record, indent=2))
        tmp.replace(path)


def failure_reason(message: str | None) -> str | None:
    """The last line of a Keras Tuner trial message (the exception), or None."""
    if not message:
        return None
    lines = [line for line in str(message).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else None


def trial_record(tuner: ConfigTuner, trial_id: str) -> dict[str, Any]:
    path = Path(tuner.get_trial_dir(trial_id)) / TRIAL_RECORD
    return json.loads(path.read_text()) if path.exists() else {"runs": []}
