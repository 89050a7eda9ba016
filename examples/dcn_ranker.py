"""The DCN-v2 ranker with Keras `model.fit`: cross layers over the retrieval towers' features.

The ranker scores (search or feed, item) pairs that were shown: its features are the trained
two-tower model's query and item embeddings, their dot product, the item's category, brand and
price bucket, the position shown, the hour and history features; it predicts p(click) and
p(purchase | click). `RankingModel` is a `tfrs.Model` with `tfrs.layers.dcn.Cross` layers.

    python examples/dcn_ranker.py --size tiny
    python examples/dcn_ranker.py
"""

# ruff: noqa: I001  (example_shop imports tfrec, which must come before TensorFlow)
from __future__ import annotations

import json

from example_shop import example_args, example_shop
from two_tower_retrieval import train_two_tower

import tensorflow as tf
import tf_keras as keras

from tfrec.models.ranking import RankingModel
from tfrec.models.ranking_features import make_dataset
from tfrec.training.ranking import check_labels, prepare_ranking_inputs
from tfrec.training.ranking_io import ranking_model_config


def main(argv=None) -> dict:
    args = example_args(__doc__.splitlines()[0], argv)
    cfg, data, shop = example_shop(args)

    # 1. The retrieval model whose towers the ranker reads (frozen).
    retrieval, _, _ = train_two_tower(cfg, data)

    # 2. Features and labels of every shown item, per split (train / val / test).
    prepared = prepare_ranking_inputs(cfg, data, retrieval, shop.events, shop.items)
    (train_x, train_y), (val_x, val_y) = prepared["inputs"]["train"], prepared["inputs"]["val"]
    print(f"impressions: train {len(train_y['click'])}, val {len(val_y['click'])}")
    purchase_head = check_labels(train_y, "train")

    # 3. The DCN-v2 ranker: cross layers (low rank) in parallel with a deep MLP.
    keras.utils.set_random_seed(cfg.training.seed)
    config = ranking_model_config(cfg, data, prepared["extras"], purchase_head, train_x)
    with tf.distribute.get_strategy().scope():
        ranker = RankingModel.from_config(config)
        ranker.compile(optimizer=keras.optimizers.Adam(cfg.ranking.learning_rate))

    # 4. fit on tf.data batches of (features, {"click", "purchase"}); AUC on the val split.
    r = cfg.ranking
    history = ranker.fit(
        make_dataset(train_x, train_y, r.batch_size, True, cfg.training.seed),
        validation_data=make_dataset(val_x, val_y, 4096, False, cfg.training.seed),
        epochs=r.epochs,
        callbacks=[keras.callbacks.EarlyStopping("val_click_auc", mode="max", patience=2)],
        verbose=cfg.training.verbose,
    )
    result = {
        "val_click_auc": max(history.history["val_click_auc"]),
        "loss": history.history["loss"][-1],
    }
    print("result: " + json.dumps({k: round(float(v), 4) for k, v in result.items()}))
    return result


if __name__ == "__main__":
    main()
