"""Retrieval training examples/s per text mode (frozen, top_k_layers, full), as ratios to frozen."""

from __future__ import annotations

import copy
import time

import numpy as np
import tensorflow as tf

from tfrec.bench.common import bench_data, peak_rss_mb
from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.data.datasets import retrieval_dataset
from tfrec.training.retrieval import _build_variables, build_model_for_run


def bench_training(cfg: Config, steps: int = 8, warmup: int = 2, batch_size: int = 32) -> dict:
    """Training examples/s of the retrieval model per text mode, on the same batches."""
    data = bench_data(cfg)
    results = {}
    for mode in ("frozen", "top_k_layers", "full"):
        c = copy.deepcopy(cfg)
        c.text.mode = mode
        c.text.trainable_layers = 2
        c.retrieval.batch_size = batch_size
        tf.keras.utils.set_random_seed(0)
        model = build_model_for_run(c, data)
        ds = retrieval_dataset(data, "train", batch_size, seed=0).repeat()
        _build_variables(model, ds)
        it = iter(ds)
        for _ in range(warmup):
            model.train_step(next(it))
        t0 = time.perf_counter()
        for _ in range(steps):
            model.train_step(next(it))
        seconds = time.perf_counter() - t0
        results[mode] = {
            "examples_per_s": steps * batch_size / seconds,
            "trainable_weights": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
            "peak_rss_mb": peak_rss_mb(),
        }
        del model
    base = results["frozen"]["examples_per_s"]
    echo(
        f"[bench] retrieval training, batch {batch_size}, {steps} timed steps, checkpoint {cfg.text.checkpoint}"
    )
    echo(
        f"[bench] {'mode':14s} {'examples/s':>11s} {'ratio':>7s} {'trainable':>11s} {'peak RSS MiB':>13s}"
    )
    for mode, r in results.items():
        r["ratio_to_frozen"] = r["examples_per_s"] / base
        echo(
            f"[bench] {mode:14s} {r['examples_per_s']:11.1f} {r['ratio_to_frozen']:7.3f} "
            f"{r['trainable_weights']:11,d} {r['peak_rss_mb']:13.0f}"
        )
    return results
