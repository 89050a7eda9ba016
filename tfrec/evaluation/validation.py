"""Validation during training: full-catalog retrieval recall on the held-out split, as a Keras
callback that adds it to the epoch logs for early stopping and checkpoints."""

from __future__ import annotations

import numpy as np
import tf_keras as keras

from tfrec.core.log import echo
from tfrec.data.prepared import PreparedData
from tfrec.evaluation.retrieval import evaluate_scorers
from tfrec.evaluation.scorers import model_scorer


class ValidationRecall(keras.callbacks.Callback):
    """Full-catalog Recall@K on the validation searches and feed users, added to the epoch logs
    as `val_search_recall_at_K`, `val_feed_recall_at_K` and their mean `val_recall_at_K`."""

    def __init__(self, data: PreparedData, k: int = 100, max_instances: int = 2000):
        super().__init__()
        self.data = data
        self.k = k
        self.max_instances = max_instances

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        scorer = {"trained": model_scorer(self.data, self.model)}
        values = []
        for task in ("search", "feed"):
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
        echo(
            f" - val recall@{self.k}: "
            + ", ".join(f"{k[4:]}={v:.4f}" for k, v in logs.items() if k.startswith("val_"))
        )
