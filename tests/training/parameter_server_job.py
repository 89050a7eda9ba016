"""One process of the parameter-server test (tests/training/test_parameter_server.py).

`--role server`: a worker or parameter-server task of the `TF_CONFIG` cluster; it runs a
`tf.distribute.Server` and waits (the coordinator drives it). `--role coordinator`: the chief;
builds `tf.distribute.experimental.ParameterServerStrategy` through `tfrec.core.distribute`
(`training.strategy: parameter_server`), whose variable partitioner shards the user and item id
embedding tables across the parameter servers, trains the tiny shop's retrieval model a few
steps with Keras `fit` on a per-worker dataset (`tfrec.training.parameter_server`), and writes
what it saw to `--out/result.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ (tiny_shop)

import tfrec  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)


def serve() -> None:
    """Run this process's worker or parameter-server task until killed."""
    import tensorflow as tf  # deferred: after tfrec set TF_USE_LEGACY_KERAS

    # a worker lets the coordinator see a lost connection as a worker failure, not its own
    os.environ["GRPC_FAIL_FAST"] = "use_caller"
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    server = tf.distribute.Server(
        resolver.cluster_spec(),
        job_name=resolver.task_type,
        task_index=resolver.task_id,
        protocol="grpc",
        start=True,
    )
    server.join()


def coordinate(args) -> None:
    """Train on the cluster and write `result.json`."""
    import tensorflow as tf  # deferred: after tfrec set TF_USE_LEGACY_KERAS
    from tiny_shop import make_shop  # deferred: tests/ is put on sys.path above

    from tfrec.config import Config, SplitConfig  # deferred: as above
    from tfrec.core.distribute import get_strategy  # deferred: as above
    from tfrec.data.prepared import prepare_data  # deferred: as above
    from tfrec.evaluation.validation import ValidationRecall  # deferred: as above
    from tfrec.training.parameter_server import fit_retrieval_on_cluster  # deferred: as above

    cfg = Config(name="parameter_server", run_dir=str(Path(args.out) / "run"))
    cfg.training.strategy = "parameter_server"
    cfg.training.shard_min_bytes = args.shard_min_bytes
    cfg.text.checkpoint = args.bert
    cfg.text.cache_dir = str(Path(args.out) / "cache")
    cfg.text.max_length = 16
    cfg.retrieval.embedding_dim = 16
    cfg.retrieval.projection_layers = [16]
    cfg.retrieval.id_embedding_dim = 8
    cfg.retrieval.batch_size = args.batch
    cfg.data.split = SplitConfig(test_days=5, val_days=5)
    items, events = make_shop(users=80, items=60)
    data = prepare_data(items, events, cfg.data.split)

    strategy = get_strategy(cfg.training)
    model, history = fit_retrieval_on_cluster(
        cfg, data, strategy, epochs=args.epochs, steps_per_epoch=args.steps
    )
    user = model.query_tower.user_embedding.embeddings
    item = model.item_tower.item_id_embedding.embeddings
    recall = ValidationRecall(data, k=10)
    recall.set_model(model)
    logs: dict = {}
    recall.on_epoch_end(0, logs)

    def shards(v) -> list[dict]:
        parts = getattr(v, "variables", [v])
        return [{"shape": p.shape.as_list(), "device": p.device} for p in parts]

    result = {
        "workers": strategy.extended._num_workers,
        "ps": strategy.extended._num_ps,
        "user_table": {"rows": int(user.shape[0]), "shards": shards(user)},
        "item_table": {"rows": int(item.shape[0]), "shards": shards(item)},
        "steps_per_epoch": int(history.params["steps"]),
        "loss": [float(x) for x in history.history["loss"]],
        "item_table_trained": float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(item)))),
        "val_recall_at_10": float(logs["val_recall_at_10"]),
    }
    (Path(args.out) / "result.json").write_text(json.dumps(result, indent=2))
    print("result:", json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["server", "coordinator"], required=True)
    parser.add_argument("--bert")
    parser.add_argument("--out")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--shard-min-bytes", type=int, default=256)
    args = parser.parse_args()
    if args.role == "server":
        serve()
    else:
        coordinate(args)


if __name__ == "__main__":
    main()
