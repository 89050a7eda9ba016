"""Retrieval training examples/s per text mode (frozen; top_k_layers with the frozen-layer cache
and without it, the baseline it replaces; full), as ratios to frozen, on the same batches."""

from __future__ import annotations

import copy
import time

import numpy as np
import tensorflow as tf

from tfrec.bench.common import bench_data, peak_rss_mb
from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.data.datasets import retrieval_dataset
from tfrec.training.retrieval import _build_variables, attach_layer_caches, build_model_for_run

# (row label, text mode, frozen-layer cache)
VARIANTS = (
    ("frozen", "frozen", False),
    ("top_k_layers", "top_k_layers", True),
    ("top_k_uncached", "top_k_layers", False),
    ("full", "full", False),
)


def bench_training(
    cfg: Config, steps: int = 8, warmup: int = 2, batch_size: int = 32, trainable_layers: int = 2
) -> dict:
    """Training examples/s of the retrieval model per text mode, on the same batches.

    `top_k_layers` trains the top `trainable_layers` BERT layers from the frozen-layer caches
    (`text.layer_cache`, filled once before training: its time and memory are printed beside);
    `top_k_uncached` is the same mode running all of BERT every step. The fine-tuned modes read
    token ids made in the input pipeline, as `train_retrieval` does.

    Args:
        cfg: the config (its run's prepared data, or a small synthetic shop).
        steps: timed training steps per variant.
        warmup: untimed steps first (tracing).
        batch_size: examples per step.
        trainable_layers: BERT layers trained in the top_k variants.

    Example:
        >>> bench_training(cfg)["top_k_layers"]["ratio_to_frozen"]  # doctest: +SKIP
    """
    data = bench_data(cfg)
    results = {}
    for label, mode, cached in VARIANTS:
        c = copy.deepcopy(cfg)
        c.text.mode = mode
        c.text.trainable_layers = trainable_layers
        c.text.layer_cache = cached
        c.retrieval.batch_size = batch_size
        tf.keras.utils.set_random_seed(0)
        model = build_model_for_run(c, data)
        tokenizer = model.text_encoder.tokenizer if mode != "frozen" else None
        ds = retrieval_dataset(
            data, "train", batch_size, seed=0, include_text=mode != "frozen", tokenizer=tokenizer
        ).repeat()
        result = {}
        if cached:
            attach_layer_caches(c, model, data)
            caches = (model.item_layer_cache, model.query_layer_cache)
            result["cache_seconds"] = sum(x.seconds for x in caches)
            result["cache_mib"] = sum(x.nbytes for x in caches) / 2**20
            result["cache_texts"] = sum(x.num_texts for x in caches)
        _build_variables(model, ds)
        it = iter(ds)
        for _ in range(warmup):
            model.train_step(next(it))
        t0 = time.perf_counter()
        for _ in range(steps):
            model.train_step(next(it))
        seconds = time.perf_counter() - t0
        result.update(
            examples_per_s=steps * batch_size / seconds,
            trainable_weights=int(sum(np.prod(w.shape) for w in model.trainable_weights)),
            peak_rss_mb=peak_rss_mb(),
        )
        results[label] = result
        del model
    base = results["frozen"]["examples_per_s"]
    echo(
        f"[bench] retrieval training, batch {batch_size}, {steps} timed steps, checkpoint "
        f"{cfg.text.checkpoint}, top_k = {trainable_layers} layers"
    )
    echo(
        f"[bench] {'mode':16s} {'examples/s':>11s} {'ratio':>7s} {'trainable':>11s} "
        f"{'peak RSS MiB':>13s}"
    )
    for label, r in results.items():
        r["ratio_to_frozen"] = r["examples_per_s"] / base
        echo(
            f"[bench] {label:16s} {r['examples_per_s']:11.1f} {r['ratio_to_frozen']:7.3f} "
            f"{r['trainable_weights']:11,d} {r['peak_rss_mb']:13.0f}"
        )
    cached, uncached = results["top_k_layers"], results["top_k_uncached"]
    cached["ratio_to_uncached"] = cached["examples_per_s"] / uncached["examples_per_s"]
    echo(
        f"[bench] top_k_layers with the frozen-layer cache: {cached['ratio_to_uncached']:.2f}x "
        f"the uncached examples/s; the cache of {cached['cache_texts']:,d} texts (item texts "
        f"and known queries) took {cached['cache_seconds']:.1f} s once and holds "
        f"{cached['cache_mib']:.1f} MiB"
    )
    return results
