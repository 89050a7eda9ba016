"""The export of a trained retrieval model over an item index: `export/tfrec/<version>/` (ops
stock TF Serving links: core TF and TF Text's BertTokenizer, no FastBert ops) and, with a ScaNN
index, `export/tfrec_scann/<version>/` (`retrieval` runs the ScaNN index in the graph), and
`export/models.config`. With a device index (`index.kind` exact or approx_max_k) only `tfrec`
is exported, and its `retrieval` signature runs that index in stock ops (so stock TF Serving on
a GPU serves it). The signatures are described in `tfrec.export.serving_module`, the version
layout in `tfrec.export.versions`.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfrec.config import Config
from tfrec.core.log import echo
from tfrec.core.rundir import RunDir
from tfrec.core.topk import top_k
from tfrec.export.serving_module import (
    OPTIONAL_INPUTS,
    STOCK_TOKENIZER,
    ExtraInput,
    RetrievalServingModule,
    extra_item_inputs,
    run_numeric_stats,
)
from tfrec.export.versions import (
    as_tensor_value,
    custom_op_types,
    models_config,
    prune_versions,
    query_fingerprint,
    save_version,
)
from tfrec.index.device_index import DeviceIndex
from tfrec.index.scann_index import ItemIndex
from tfrec.text.frozen import make_text_encoder


def example_inputs(
    data, index: ItemIndex | DeviceIndex, k: int = 10, extra_inputs: list[ExtraInput] = ()
) -> dict[str, dict[str, np.ndarray]]:
    """One small, valid request per signature (used as TF Serving warmup requests and to check
    a version before it is published); extra item features are sent as unknown.

    Args:
        data: the run's `PreparedData` (queries, users and catalog rows to ask about).
        index: the `ItemIndex` (the `neighbors` request embeds two of its rows).
        k: int. The `k` of the retrieval requests. Defaults to 10.
        extra_inputs: list of `ExtraInput`. Config-declared `item_encoder` inputs.

    Returns:
        dict of signature name to its inputs (name -> np.ndarray).

    Example:
        >>> sorted(example_inputs(data, index, k=5))  # doctest: +SKIP
        ['item_encoder', 'neighbors', 'query_encoder', 'retrieval', 'retrieval_bruteforce']
    """
    catalog = data.catalog
    queries = [q for q in data.queries[1:4]] or ["gift"]
    b = len(queries) + 1
    users = (data.user_vocab.values[1:2] or ["nobody"]) + [""] * (b - 1)
    recent = np.array([[catalog.item_ids[1], ""]] + [["", ""]] * (b - 1), dtype=object)
    q = {
        "query": np.array([*queries, ""], dtype=object),
        "user_id": np.array(users[:b], dtype=object),
        "recent_item_ids": recent,
    }
    rows = slice(1, min(4, len(catalog)))
    price = np.nan_to_num(np.asarray(catalog.prices[rows], np.float32), nan=np.float32("nan"))
    return {
        "query_encoder": q,
        "item_encoder": {
            "item_id": np.array(catalog.item_ids[rows], dtype=object),
            "title": np.array(catalog.titles[rows], dtype=object),
            "description": np.array([""] * len(price), dtype=object),
            "category": np.array(catalog.categories[rows], dtype=object),
            "brand": np.array(catalog.brands[rows], dtype=object),
            "price": price,
            **{
                e.name: np.full(len(price), np.nan, np.float32)
                if e.kind == "numeric"
                else np.array([""] * len(price), dtype=object)
                for e in extra_inputs
            },
        },
        "retrieval": {**q, "k": np.int32(k)},
        "retrieval_bruteforce": {**q, "k": np.int32(k)},
        "neighbors": {"embedding": index.embeddings[:2], "k": np.int32(k)},
    }


def reference_top_k(
    model, data, index: ItemIndex | DeviceIndex, inputs: dict, k: int, scann: bool
) -> list[list[str]]:
    """The pre-export top-k: the in-process model and the index (or exact search).

    Args:
        model: the `RetrievalModel` (with a text encoder attached).
        data: the run's `PreparedData` (user and item vocabularies).
        index: the `ItemIndex` (ScaNN, pybind) or `DeviceIndex` (in-process TF search).
        inputs: dict with `query` [B], `user_id` [B] and `recent_item_ids` [B, L] (strings).
        k: int. How many items per request.
        scann: bool. Search with the index, whichever kind (True), or exactly, ties to the
            lower index row.

    Returns:
        list of B lists of item ids.

    Example:
        >>> reference_top_k(model, data, index, request, 10, scann=False)  # doctest: +SKIP
    """
    feats = {
        "query": tf.constant(np.asarray(inputs["query"]).astype(str)),
        "user_idx": data.user_vocab.lookup(list(inputs["user_id"])),
        "history": data.item_vocab.lookup(list(np.ravel(inputs["recent_item_ids"]))).reshape(
            np.shape(inputs["recent_item_ids"])
        ),
    }
    emb = model.query_embeddings(feats).numpy()
    if scann:
        ids, _ = index.search(emb, k)
        return ids
    rows = top_k(emb @ index.embeddings.T, k)
    return [[index.item_ids[i] for i in row] for row in rows]


def export_model(
    cfg: Config,
    run: RunDir,
    model,
    data,
    index: ItemIndex | DeviceIndex,
    version: int | None = None,
) -> dict[str, Path]:
    """Export the TF Serving models of a trained model and an index (`tfrec`, and
    `tfrec_scann` with a ScaNN index), and write `export/models.config` listing them; each
    version is checked before it is published (exported top-k equals `reference_top_k` on the
    warmup queries).

    Args:
        cfg: the run's config (`export`, `text.checkpoint`; a frozen-mode text encoder is
            attached from it when the model has none).
        run: the run directory written into.
        model: the trained `RetrievalModel`.
        data: the run's `PreparedData`.
        index: the `ItemIndex` or `DeviceIndex` the models search.
        version: int or None. The version number; None takes the next one.

    Returns:
        dict of model name (`export.model_name`, `export.scann_model_name`) to version path.

    Example:
        >>> export_model(cfg, run, model, data, index)  # doctest: +SKIP
        {'tfrec': PosixPath('runs/quickstart/export/tfrec/1'), 'tfrec_scann': ...}
    """
    if model.text_encoder is None:
        model.attach_text_encoder(make_text_encoder(cfg, mode="frozen"))
    e = cfg.export
    extras = extra_item_inputs(data.catalog.extra_feature_names or {})
    numeric_stats = run_numeric_stats(run, data)
    requests = example_inputs(data, index, k=min(10, e.max_k), extra_inputs=extras)
    info = {
        "run": str(run.root),
        "embedding_dim": int(index.embeddings.shape[1]),
        "max_k": e.max_k,
        "num_items": len(index),
        "index": index.params.__dict__,
        "optional_inputs": {**OPTIONAL_INPUTS, **{x.name: x.default for x in extras}},
        "extra_item_inputs": [asdict(x) for x in extras],
        "text_checkpoint": cfg.text.checkpoint,
        "query_fingerprint": query_fingerprint(model, cfg.text.checkpoint),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = {}
    q = requests["retrieval"]
    # the stock-ops model tokenizes with TF Text's BertTokenizer (no FastBert ops, which stock
    # TF Serving builds may lack); the ScaNN model needs a custom build anyway and keeps the
    # model's own tokenizer. Both give the same token ids. A device index is searched in stock
    # ops by the `tfrec` model itself, so there is no ScaNN model.
    device = isinstance(index, DeviceIndex)
    models = [(e.model_name, False, STOCK_TOKENIZER)]
    if device:
        stale = run.export_model(e.scann_model_name)
        if stale.is_dir():
            echo(
                f"[export] {stale} holds versions of an earlier ScaNN export; this "
                f"{index.params.mode} index exports only {e.model_name} (remove {stale} so "
                "`tfrec serve` and TF Serving stop serving it)"
            )
    else:
        models.append((e.scann_model_name, True, None))
    for name, scann, tokenizer in models:
        t0 = time.time()
        module = RetrievalServingModule(
            model,
            data,
            index,
            e.max_k,
            use_scann=scann,
            tokenizer_implementation=tokenizer,
            numeric_stats=numeric_stats,
        )
        base = run.export_model(name)
        indexed = scann or device
        sig = "retrieval" if indexed else "retrieval_bruteforce"
        checked = {}

        def same_top_k(loaded, sig=sig, indexed=indexed, checked=checked, name=name):
            # exported top-k equals the pre-export top-k (on the version before it is published)
            got = loaded.signatures[sig](
                **{k: tf.constant(as_tensor_value(v)) for k, v in q.items()}
            )
            got = [[x.decode() for x in row] for row in got["item_ids"].numpy()]
            want = reference_top_k(model, data, index, q, int(q["k"]), indexed)
            checked.update(
                same=sum(g == w for g, w in zip(got, want, strict=True)),
                n=len(want),
                signatures=sorted(loaded.signatures.keys()),
            )
            if checked["same"] != len(want):
                raise ValueError(
                    f"{name}: signature {sig} returns a different top-{int(q['k'])} than the "
                    f"in-process model on {len(want) - checked['same']} of {len(want)} warmup "
                    f"queries ({got} vs {want}); the version is not published"
                )

        model_info = {**info, "tokenizer": module.tokenizer_implementation}
        path = save_version(module, base, name, requests, model_info, version, verify=same_top_k)
        echo(
            f"[export] {path} ({time.time() - t0:.1f} s, {module.tokenizer_implementation} "
            f"tokenizer): signatures "
            f"{', '.join(checked['signatures'])}; exported top-{int(q['k'])} equals "
            f"pre-export on {checked['same']}/{checked['n']} warmup queries; non-core ops: "
            f"{', '.join(custom_op_types(path)) or 'none'}"
        )
        prune_versions(base, e.keep_versions)
        out[name] = path
    run.models_config.write_text(models_config(run, list(out)))
    echo(f"[export] TF Serving model config: {run.models_config}")
    return out
