"""A tiny judged shop for the judgment rankers' tests: tests/tiny_shop.py with titles that name
the item's kind and colour, graded judgments of 30 queries (3 = kind and colour, 1 = kind
only), and a trained tiny run (tiny BERT, 16-dim towers) with or without impressions."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import tensorflow as tf
from tiny_run import tiny_config
from tiny_shop import make_shop

import tfrec  # noqa: F401
from tfrec.core.rundir import RunDir
from tfrec.data.datasets import retrieval_dataset
from tfrec.data.prepared import prepare_data
from tfrec.models.retrieval import build_retrieval_model
from tfrec.text.frozen import frozen_text_tables, make_text_encoder
from tfrec.training.retrieval import save_retrieval_model

KINDS = ["shoes", "mug", "lantern"]  # one per tiny-shop category (item i: i % 3)
COLOURS = ["red", "blue", "white", "black", "green"]  # one per tiny-shop brand (i % 5)
ADJECTIVES = ["", "small "]


def judged_shop():
    """(items, events, judgments): titles `"<colour> <kind> <i>"`; the query `"<adj><colour>
    <kind>"` (adjective none or `small`: 30 queries) judges every item of that kind 1 and of
    that kind and colour 3; other items are unjudged."""
    items, events = make_shop()
    n = len(items)
    items["title"] = [f"{COLOURS[i % 5]} {KINDS[i % 3]} {i}" for i in range(n)]
    rows = []
    for adj in ADJECTIVES:
        for c, colour in enumerate(COLOURS):
            for k, kind in enumerate(KINDS):
                query = f"{adj}{colour} {kind}"
                for i in range(n):
                    if i % 3 == k:
                        rows.append((query, f"i{i}", 3.0 if i % 5 == c else 1.0))
    judgments = pd.DataFrame(rows, columns=["query", "item_id", "relevance"])
    return items, events, judgments


def make_judged_run(root: Path, bert_dir: Path, impressions: bool = False):
    """(cfg, run, data) of a trained tiny run with judgments on disk; without `impressions`
    the events keep only clicks (a judgments-only run)."""
    cfg = tiny_config(root, bert_dir)
    cfg.training.verbose = 0
    run = RunDir(cfg.run_path)
    items, events, judgments = judged_shop()
    if not impressions:
        events = events[events["event"] != "impression"].reset_index(drop=True)
    run.clean.mkdir(parents=True, exist_ok=True)
    items.to_parquet(run.clean_table("items"), index=False)
    events.to_parquet(run.clean_table("events"), index=False)
    judgments.to_parquet(run.clean_table("judgments"), index=False)
    data = prepare_data(items, events, cfg.data.split, cfg.retrieval.price_buckets)
    tf.keras.utils.set_random_seed(0)
    encoder = make_text_encoder(cfg, mode="frozen")
    model = build_retrieval_model(cfg, data, *frozen_text_tables(cfg, data, encoder))
    model.fit(retrieval_dataset(data, "train", batch_size=32), epochs=1, verbose=0)
    save_retrieval_model(model, run)
    return cfg, run, data
