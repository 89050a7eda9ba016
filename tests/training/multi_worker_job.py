"""One process of the multi-worker test (tests/training/test_multi_worker.py): trains the tiny
shop's two-tower retrieval model with Keras `fit` under the strategy `--strategy` names and
writes what it saw to `--out/result_<task>.json`.

`multi_worker`: `tf.distribute.MultiWorkerMirroredStrategy` from the `TF_CONFIG` the test sets.
The dataset is batched to the global batch and sharded by data (`AutoShardPolicy.DATA`): each
step, every worker takes its own slice of the same global batch (global batch / workers), so
the steps per epoch and the examples seen equal one worker's. Checkpoints go through Keras's
`ModelCheckpoint`, which writes the shared path on the chief only (a non-chief writes into a
temporary directory and removes it). `default`: the same training in one process.

`--backup-every N` adds Keras's `BackupAndRestore` (every N batches, into `--out/backup`) and
tfrec's `ResumeReporter`; `--die-at-step K` makes this worker exit abruptly (`os._exit`) after
its K-th batch, as a lost machine does. A cluster started again on the same `--out` resumes
from the last backup.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (tiny_shop)

import tfrec  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)
from tfrec.config import Config, SplitConfig  # noqa: E402
from tfrec.core.distribute import get_strategy  # noqa: E402


def _task_name() -> str:
    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {"type": "chief", "index": 0})
    return f"{task['type']}{task['index']}"


def train_ranker(args, strategy) -> None:
    """The DCN-v2 ranker of tests/tiny_ranking.py (features from a tiny retrieval model, no
    BERT) trained under `strategy`, batches of `--batch` sharded by data; writes the losses and
    the validation click AUC to `--out/ranker_<task>.json`."""
    import tensorflow as tf  # deferred: after the strategy, as TensorFlow requires
    import tf_keras as keras  # deferred: as above
    from tiny_ranking import (  # deferred: tests/ is put on sys.path above
        feature_builder,
        frame_inputs,
        ranking_data,
        ranking_shop,
        small_ranker,
    )

    from tfrec.models.ranking_features import make_dataset  # deferred: as above

    shop = ranking_shop()
    builder = feature_builder(ranking_data(shop), shop)
    _, feats, labels = frame_inputs(builder)
    _, val_feats, val_labels = frame_inputs(builder, "val")
    keras.utils.set_random_seed(42)
    train = make_dataset(feats, labels, args.batch, True, 42, drop_remainder=True)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train = train.with_options(options)
    local = next(iter(strategy.experimental_distribute_dataset(train)))[1]["click"]
    with strategy.scope():
        model = small_ranker(builder)
    history = model.fit(train, epochs=args.epochs, verbose=2)
    auc = keras.metrics.AUC()
    auc.update_state(val_labels["click"], model(val_feats)["click"])
    result = {
        "task": _task_name(),
        "replicas": strategy.num_replicas_in_sync,
        "local_batch": int(tf.shape(strategy.experimental_local_results(local)[0])[0]),
        "steps_per_epoch": int(history.params["steps"]),
        "loss": [float(x) for x in history.history["loss"]],
        "val_click_auc": float(auc.result()),
    }
    (Path(args.out) / f"ranker_{result['task']}.json").write_text(json.dumps(result, indent=2))
    print("result:", json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--strategy", choices=["default", "multi_worker"], required=True)
    parser.add_argument("--bert", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--backup-every", type=int, default=0)
    parser.add_argument("--die-at-step", type=int, default=0)
    parser.add_argument("--model", choices=["retrieval", "ranker"], default="retrieval")
    args = parser.parse_args()

    cfg = Config(name="multi_worker", run_dir=str(Path(args.out) / "run"))
    cfg.training.strategy = args.strategy
    # the strategy comes first: MultiWorkerMirroredStrategy must exist before any other op
    strategy = get_strategy(cfg.training)
    if args.model == "ranker":
        train_ranker(args, strategy)
        return

    import tensorflow as tf  # deferred: after the strategy, as TensorFlow requires
    import tf_keras as keras  # deferred: as above
    from tiny_shop import make_shop  # deferred: tests/ is put on sys.path above

    from tfrec.data.datasets import retrieval_dataset  # deferred: as above
    from tfrec.data.prepared import prepare_data  # deferred: as above
    from tfrec.evaluation.validation import ValidationRecall  # deferred: as above
    from tfrec.models.retrieval import build_retrieval_model  # deferred: as above
    from tfrec.text.frozen import frozen_text_tables  # deferred: as above
    from tfrec.training.callbacks import ResumeReporter  # deferred: as above

    class DieAtStep(keras.callbacks.Callback):
        """Exit the process without any cleanup after the `step`-th batch of this run."""

        def __init__(self, step: int):
            super().__init__()
            self.step, self.seen = step, 0

        def on_train_batch_end(self, batch, logs=None):
            self.seen += 1
            if self.seen == self.step:
                print(f"dying after batch {batch + 1} (step {self.seen} of this run)", flush=True)
                os._exit(3)

    task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {"type": "chief", "index": 0})
    name = f"{task['type']}{task['index']}"
    cfg.text.checkpoint = args.bert
    cfg.text.cache_dir = str(Path(args.out) / f"cache_{name}")
    cfg.text.max_length = 16
    cfg.retrieval.embedding_dim = 16
    cfg.retrieval.projection_layers = [16]
    cfg.retrieval.id_embedding_dim = 8
    cfg.data.split = SplitConfig(test_days=5, val_days=5)
    items, events = make_shop(users=80, items=60)
    data = prepare_data(items, events, cfg.data.split)

    keras.utils.set_random_seed(cfg.training.seed)
    tables = frozen_text_tables(cfg, data)
    with strategy.scope():
        model = build_retrieval_model(cfg, data, *tables)
    train = retrieval_dataset(data, "train", args.batch, seed=cfg.training.seed)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    train = train.with_options(options)
    local = next(iter(strategy.experimental_distribute_dataset(train)))["item_idx"]
    local_batch = int(tf.shape(strategy.experimental_local_results(local)[0])[0])

    ckpt = Path(args.out) / "checkpoints" / "weights"
    callbacks = [keras.callbacks.ModelCheckpoint(str(ckpt), save_weights_only=True)]
    resume = ResumeReporter("retrieval")
    if args.backup_every:
        backup = str(Path(args.out) / "backup")
        callbacks += [
            keras.callbacks.BackupAndRestore(backup, save_freq=args.backup_every),
            resume,
        ]
    if args.die_at_step:
        callbacks.append(DieAtStep(args.die_at_step))
    history = model.fit(train, epochs=args.epochs, callbacks=callbacks, verbose=2)
    recall = ValidationRecall(data, k=10)
    recall.set_model(model)
    logs: dict = {}
    recall.on_epoch_end(0, logs)
    result = {
        "task": name,
        "replicas": strategy.num_replicas_in_sync,
        "global_batch": args.batch,
        "local_batch": local_batch,
        "steps_per_epoch": int(history.params["steps"]),
        "loss": [float(x) for x in history.history["loss"]],
        "val_recall_at_10": float(logs["val_recall_at_10"]),
        "optimizer_steps": int(model.optimizer.iterations.numpy()),
        "resumed_from": resume.resumed_from,
    }
    (Path(args.out) / f"result_{name}.json").write_text(json.dumps(result, indent=2))
    print("result:", json.dumps(result))


if __name__ == "__main__":
    main()
