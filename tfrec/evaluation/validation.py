"""Validation during training: full-catalog retrieval recall on the held-out split, as Keras
callbacks that add it to the epoch logs (for early stopping and checkpoints) and keep the
starting point when no epoch beats it."""

from __future__ import annotations

import numpy as np
import tf_keras as keras

from tfrec.core.log import echo
from tfrec.data.prepared import PreparedData
from tfrec.evaluation.retrieval import evaluate_scorers
from tfrec.evaluation.scorers import model_scorer

TASKS = ("search", "feed")
# fewer validation instances than this make epoch-to-epoch differences mostly noise
MIN_INSTANCES = 300


def tasks_present(data: PreparedData) -> list[str]:
    """The retrieval tasks the data has: training examples of the task and held-out validation
    instances (search-only logs have no feed task, ratings logs no search task).

    Example:
        >>> tasks_present(data)  # doctest: +SKIP
        ['search', 'feed']
    """
    train = data.retrieval[data.retrieval["split"] == "train"]
    examples = {
        "search": int((train.query_idx > 0).sum()),
        "feed": int((train.query_idx == 0).sum()),
    }
    held_out = {"search": data.search_eval.get("val"), "feed": data.feed_eval.get("val")}
    return [t for t in TASKS if examples[t] and held_out[t] is not None and len(held_out[t])]


class ValidationRecall(keras.callbacks.Callback):
    """Full-catalog Recall@K on the validation searches and feed users, added to the epoch logs
    as `val_search_recall_at_K`, `val_feed_recall_at_K` and `val_recall_at_K`, the mean over the
    tasks the data has (`tasks_present`). The model before training is measured too (`start`),
    and `StartGuard` keeps it when no epoch beats it.

    Args:
        data: the prepared data (its `val` split).
        k: the cut-off K. Defaults to 100.
        max_instances: at most this many validation instances per task (a fixed sample).

    Example:
        >>> vr = ValidationRecall(data)  # doctest: +SKIP
        >>> model.fit(ds, callbacks=[vr, EarlyStopping("val_recall_at_100"), vr.guard()])  # doctest: +SKIP
    """

    def __init__(self, data: PreparedData, k: int = 100, max_instances: int = 2000):
        super().__init__()
        self.data = data
        self.k = k
        self.max_instances = max_instances
        self.tasks = tasks_present(data)
        self.start: float | None = None
        self.start_weights: list | None = None
        self.best: float | None = None
        if not self.tasks:
            echo("[retrieval] no validation instances of any task: the metric is 0 every epoch")
        for task in self.tasks:
            held_out = (self.data.search_eval if task == "search" else self.data.feed_eval)["val"]
            n = min(len(held_out), max_instances)
            if n < MIN_INSTANCES:
                echo(
                    f"[retrieval] only {n} validation {task} instances (fewer than "
                    f"{MIN_INSTANCES}): early stopping on them is noisy; a longer validation "
                    "period (data.split.val_days) gives more"
                )

    def measure(self) -> dict[str, float]:
        """`val_*` figures of the model as it is now."""
        logs = {}
        scorer = {"trained": model_scorer(self.data, self.model)}
        values = []
        for task in self.tasks:
            res = evaluate_scorers(
                self.data,
                scorer,
                task,
                "val",
                ks=[self.k],
                max_instances=self.max_instances,
                curve_k=1,
            )
            m = res["slices"].get("all", {}).get("trained")
            if m:
                logs[f"val_{task}_recall_at_{self.k}"] = m[f"recall@{self.k}"]
                values.append(m[f"recall@{self.k}"])
        logs[f"val_recall_at_{self.k}"] = float(np.mean(values)) if values else 0.0
        return logs

    def on_train_begin(self, logs=None):
        start = self.measure()
        self.start = start[f"val_recall_at_{self.k}"]
        self.start_weights = self.model.get_weights()
        echo(
            f" - before training: val recall@{self.k}: "
            + ", ".join(f"{k[4:]}={v:.4f}" for k, v in start.items())
        )

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        logs.update(self.measure())
        value = logs[f"val_recall_at_{self.k}"]
        self.best = value if self.best is None else max(self.best, value)
        echo(
            f" - val recall@{self.k}: "
            + ", ".join(f"{k[4:]}={v:.4f}" for k, v in logs.items() if k.startswith("val_"))
        )

    def guard(self) -> StartGuard:
        """The callback to place last: it keeps the starting weights when they won."""
        return StartGuard(self)


class StartGuard(keras.callbacks.Callback):
    """At the end of training (after `EarlyStopping` restored the best epoch), puts back the
    weights the model started from when no epoch beat them on the validation metric: with the
    towers' text residual the start is the zero-shot encoder, so the trained model never ends
    below its backbone on validation.

    Args:
        validation: the `ValidationRecall` that measured the start and every epoch.

    Example:
        >>> callbacks = [vr, *others, StartGuard(vr)]  # doctest: +SKIP
    """

    def __init__(self, validation: ValidationRecall):
        super().__init__()
        self.validation = validation
        self.kept_start = False

    def on_train_end(self, logs=None):
        v = self.validation
        if v.start is None or v.start_weights is None:
            return
        if v.best is None or v.best <= v.start:
            self.model.set_weights(v.start_weights)
            self.kept_start = True
            best = "no epoch ran" if v.best is None else f"best epoch {v.best:.4f}"
            echo(
                f"[retrieval] no epoch beat the model before training on val recall@{v.k} "
                f"({v.start:.4f} vs {best}): the starting weights are kept"
            )
