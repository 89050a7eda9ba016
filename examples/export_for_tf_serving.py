"""Export a trained two-tower model for TensorFlow Serving and query the SavedModel.

`export_model` writes `export/<model>/<version>/` in TF Serving's layout with a
`models.config`: `tfrec` (stock TF ops plus TF Text: `retrieval_bruteforce` top-k over the
catalog, `query_encoder`, `item_encoder`) and `tfrec_scann` (the ScaNN index in the graph, for
a TF Serving build with ScaNN's ops such as `google/tf-serving-scann`). Every signature takes
raw strings: tokenization is in the graph. Each version is checked before it is published
(its top-k equals the model's own on warmup queries). Serve the folder with

    tensorflow_model_server --model_config_file=<workdir>/run/export/models.config --rest_api_port=8501

or `tfrec serve <run dir>`, which speaks the same REST and gRPC predict APIs.

    python examples/export_for_tf_serving.py --size tiny
    python examples/export_for_tf_serving.py
"""

# ruff: noqa: I001  (example_shop imports tfrec, which must come before TensorFlow)
from __future__ import annotations

import json

from example_shop import example_args, example_shop
from two_tower_retrieval import train_two_tower

import tensorflow as tf

from tfrec.core.rundir import RunDir
from tfrec.export.retrieval import export_model
from tfrec.export.versions import load_version
from tfrec.index.scann_index import ItemIndex


def main(argv=None) -> dict:
    args = example_args(__doc__.splitlines()[0], argv)
    cfg, data, _ = example_shop(args)
    model, _, _ = train_two_tower(cfg, data)

    # The ScaNN index over the item embeddings (row 0 of the catalog is the padding item).
    index = ItemIndex.build(model.all_item_embeddings()[1:], data.catalog.item_ids[1:], cfg.index)
    run = RunDir(cfg.run_path)
    paths = export_model(cfg, run, model, data, index)
    for name, path in paths.items():
        print(f"exported {name}: {path}")
    print(f"TF Serving config: {run.models_config}")

    # What a TF Serving client sends: raw strings in, item ids and scores out.
    serving = load_version(paths["tfrec"])
    query = data.queries[1] if len(data.queries) > 1 else "gift"
    out = serving.signatures["retrieval_bruteforce"](
        query=tf.constant([query]),
        user_id=tf.constant([""]),  # unknown or anonymous users are fine
        recent_item_ids=tf.constant([[""]]),
        k=tf.constant(3),
    )
    ids = [x.decode() for x in out["item_ids"].numpy()[0]]
    print(f"retrieval_bruteforce({query!r}, k=3) -> {ids}")
    result = {"paths": {k: str(v) for k, v in paths.items()}, "top": ids, "query": query}
    print("result: " + json.dumps(result))
    return result


if __name__ == "__main__":
    main()
