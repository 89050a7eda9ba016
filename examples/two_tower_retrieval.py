"""Two-tower retrieval with Keras `model.fit`: tfrec's towers inside a TFRS retrieval model.

The query tower (query text, user id, recent history) and the item tower (title + category +
brand + price) share a frozen BERT whose embeddings are computed once; `RetrievalModel` is a
`tfrs.Model` whose loss is TFRS's in-batch softmax with logQ correction. Everything below is
plain Keras: build under a `tf.distribute` strategy's scope, `compile`, `fit` on a `tf.data`
pipeline, callbacks.

    python examples/two_tower_retrieval.py --size tiny         # seconds
    python examples/two_tower_retrieval.py                     # 1,000 items, MiniLM, 5 epochs
"""

# ruff: noqa: I001  (example_shop imports tfrec, which must come before TensorFlow)
from __future__ import annotations

import json

from example_shop import example_args, example_shop

import tensorflow as tf
import tf_keras as keras

from tfrec.core.topk import top_k
from tfrec.data.datasets import retrieval_dataset, retrieval_features
from tfrec.evaluation.validation import ValidationRecall
from tfrec.models.retrieval import build_retrieval_model
from tfrec.text.frozen import frozen_text_tables, make_text_encoder


def train_two_tower(cfg, data, epochs: int | None = None):
    """Build the two-tower model of `cfg` and fit it; returns (model, history, recall callback)."""
    keras.utils.set_random_seed(cfg.training.seed)

    # 1. Text: one frozen BERT embedding per item text and per known query (cached on disk).
    encoder = make_text_encoder(cfg, mode="frozen")
    item_text, query_text = frozen_text_tables(cfg, data, encoder)

    # 2. The model, built under a strategy's scope (MirroredStrategy, TPUStrategy, ... work the
    #    same way); the batch size below is the global batch, split across the replicas.
    strategy = tf.distribute.get_strategy()
    with strategy.scope():
        model = build_retrieval_model(cfg, data, item_text, query_text)
        model.compile(optimizer=keras.optimizers.Adam(cfg.retrieval.learning_rate))

    # 3. tf.data: (query/user features, positive item, logQ sampling probability) batches.
    train = retrieval_dataset(data, "train", cfg.retrieval.batch_size, seed=cfg.training.seed)

    # 4. fit, with full-catalog Recall@10 on the validation split after every epoch.
    recall = ValidationRecall(data, k=10)
    history = model.fit(
        train,
        epochs=epochs or cfg.retrieval.epochs,
        callbacks=[recall, keras.callbacks.EarlyStopping("val_recall_at_10", mode="max")],
        verbose=cfg.training.verbose,
    )
    model.attach_text_encoder(encoder)  # raw query strings work from here on (serving, export)
    return model, history, recall


def main(argv=None) -> dict:
    args = example_args(__doc__.splitlines()[0], argv)
    cfg, data, _ = example_shop(args)
    model, history, recall = train_two_tower(cfg, data)

    # 5. Use it: the top items of a held-out search, by the dot product of the tower outputs.
    search = data.search_eval["test"].head(1)
    if len(search):
        query = model.query_embeddings(retrieval_features(data, search)).numpy()
        scores = query @ model.all_item_embeddings().T
        top = top_k(scores, k=3, exclude_all=[0])[0]  # row 0 is the padding item
        shown = " | ".join(data.catalog.texts[i][:40] for i in top)
        print(f"search {data.queries[int(search['query_idx'].iloc[0])]!r}: {shown}")
    result = {
        "start_val_recall_at_10": recall.start,
        "val_recall_at_10": max(history.history["val_recall_at_10"]),
        "loss": history.history["loss"][-1],
    }
    print("result: " + json.dumps({k: round(float(v), 4) for k, v in result.items()}))
    return result


if __name__ == "__main__":
    main()
