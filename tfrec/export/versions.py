"""Versions of exported models in TF Serving layout: saving, checking, warmup requests, the
model config.

    runs/<name>/export/models.config                 TF Serving model config
                export/<model>/<version>/            one SavedModel per version
                        assets.extra/tf_serving_warmup_requests
                        assets.extra/tfrec.json

Each version directory is written under a temporary name, checked (loaded, every warmup request
run, and the caller's own check, e.g. top-k compared with the in-process model) and only then
renamed to its version number, so a server polling `export/<model>/` never sees a half-written
version. `assets.extra/` holds `tf_serving_warmup_requests` (TF Serving's warmup format, one
request per signature) and `tfrec.json` (what a server needs to know beyond the signatures).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tfrec.core.rundir import RunDir

WARMUP_FILE = "tf_serving_warmup_requests"
INFO_FILE = "tfrec.json"


def write_warmup(path: Path, model_name: str, requests: dict[str, dict]) -> None:
    """`assets.extra/tf_serving_warmup_requests`: a TFRecord of PredictionLogs (TF Serving
    replays them when it loads the version).

    Args:
        path: the file to write.
        model_name: str. The TF Serving model name the requests address.
        requests: dict of signature name to its inputs (name -> array).

    Example:
        >>> write_warmup(version / "assets.extra" / WARMUP_FILE, "tfrec", requests)  # doctest: +SKIP
    """
    # deferred: tensorflow_serving's protos are needed only when a version is written
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature, inputs in requests.items():
            req = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
            )
            for name, value in inputs.items():
                req.inputs[name].CopyFrom(tf.make_tensor_proto(as_tensor_value(value)))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=req)
            )
            writer.write(log.SerializeToString())


def as_tensor_value(value):
    """`value` as an array `tf.constant` / `tf.make_tensor_proto` take: object (str) arrays
    become UTF-8 bytes, others pass unchanged.

    Example:
        >>> as_tensor_value(np.array(["mug"], dtype=object)).tolist()
        [b'mug']
    """
    value = np.asarray(value)
    if value.dtype == object:
        return np.vectorize(lambda s: str(s).encode("utf-8"), otypes=[object])(value)
    return value


def read_warmup(path: Path) -> list:
    """The PredictRequests of a warmup file.

    Example:
        >>> [r.model_spec.signature_name for r in read_warmup(path)]  # doctest: +SKIP
        ['query_encoder', 'item_encoder', 'retrieval_bruteforce', 'neighbors']
    """
    # deferred: tensorflow_serving's protos are needed only when a version is checked
    from tensorflow_serving.apis import prediction_log_pb2

    out = []
    for record in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        out.append(log.predict_log.request)
    return out


def next_version(base: Path) -> int:
    """One more than the highest version under `base` (1 when there is none).

    Example:
        >>> next_version(run.export_model("tfrec"))  # doctest: +SKIP
        3
    """
    versions = [int(p.name) for p in base.iterdir() if p.name.isdigit()] if base.exists() else []
    return max(versions, default=0) + 1


def save_version(
    module: tf.Module,
    base: Path,
    model_name: str,
    requests: dict,
    info: dict,
    version: int | None = None,
    verify=None,
) -> Path:
    """Save `module` as the next version under `base` (atomically published, see module doc).
    `verify(loaded)`, when given, runs on the loaded, warmed-up version before it is published
    and may raise to refuse it.

    Args:
        module: a serving module with `signatures()` and `use_scann` (`RetrievalServingModule`,
            `RankerServingModule`).
        base: the model's directory (`RunDir.export_model(name)`).
        model_name: str. The TF Serving model name (in the warmup requests).
        requests: dict of signature name to one valid request (warmup; those of signatures
            the module lacks are dropped).
        info: dict written as `assets.extra/tfrec.json`.
        version: int or None. The version number; None takes `next_version(base)`.
        verify: callable(loaded) or None. A last check of the loaded version.

    Returns:
        The published version directory.

    Example:
        >>> save_version(module, run.export_model("tfrec"), "tfrec", requests, {})  # doctest: +SKIP
        PosixPath('runs/quickstart/export/tfrec/1')
    """
    base.mkdir(parents=True, exist_ok=True)
    version = version or next_version(base)
    tmp = base / f".tmp-{version}-{time.time_ns()}"
    try:
        sigs = module.signatures()
        options = tf.saved_model.SaveOptions(
            namespace_whitelist=["Scann"] if module.use_scann else None
        )
        tf.saved_model.save(module, str(tmp), signatures=sigs, options=options)
        requests = {k: v for k, v in requests.items() if k in sigs}
        write_warmup(tmp / "assets.extra" / WARMUP_FILE, model_name, requests)
        (tmp / "assets.extra" / INFO_FILE).write_text(json.dumps(info, indent=2))
        loaded = check_version(tmp)
        if verify is not None:
            verify(loaded)
        final = base / str(version)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_version(path: Path):
    """Load one exported version (registers the TF Text and ScaNN ops first).

    Example:
        >>> load_version(run.export_model("tfrec") / "1").signatures  # doctest: +SKIP
    """
    # deferred: the op libraries load only when a version is loaded
    import tensorflow_text  # noqa: F401  (registers the TF Text ops of the in-graph tokenizer)
    from scann import scann_ops  # noqa: F401  (registers the Scann ops the graph may use)

    return tf.saved_model.load(str(path))


def check_version(path: Path):
    """Load a version and run every warmup request; returns the loaded version, raises when
    anything fails.

    Example:
        >>> check_version(run.export_model("tfrec") / "1")  # doctest: +SKIP
    """
    loaded = load_version(path)
    warmup = path / "assets.extra" / WARMUP_FILE
    if not warmup.is_file():
        raise ValueError(f"{path}: no {WARMUP_FILE}; not a tfrec export")
    for req in read_warmup(warmup):
        fn = loaded.signatures[req.model_spec.signature_name]
        fn(**{k: tf.make_ndarray(v) for k, v in req.inputs.items()})
    return loaded


def saved_model_op_types(path: Path) -> set[str]:
    """Every op type in a SavedModel's graph and function library.

    Example:
        >>> "StatefulPartitionedCall" in saved_model_op_types(version)  # doctest: +SKIP
        True
    """
    sm = saved_model_pb2.SavedModel.FromString((Path(path) / "saved_model.pb").read_bytes())
    ops = set()
    for graph in (mg.graph_def for mg in sm.meta_graphs):
        ops |= {n.op for n in graph.node}
        ops |= {n.op for f in graph.library.function for n in f.node_def}
    return ops


def custom_op_types(path: Path) -> list[str]:
    """The op types of a SavedModel that core TensorFlow does not define (`tf.raw_ops` lists
    the core ones): what a TF Serving binary must link in besides TensorFlow.

    Example:
        >>> custom_op_types(run.export_model("tfrec") / "1")  # doctest: +SKIP
        ['NormalizeUTF8', 'RegexSplitWithOffsets', 'WordpieceTokenizeWithOffsets']
    """
    return sorted(op for op in saved_model_op_types(path) if not hasattr(tf.raw_ops, op))


def models_config(run: RunDir, names: list[str], versions: int = 1) -> str:
    """TF Serving's `--model_config_file` text proto for the exported models.

    Args:
        run: the run directory whose `export/<name>/` the models are.
        names: list of str. The model names, in the order listed.
        versions: int. How many latest versions TF Serving serves. Defaults to 1.

    Example:
        >>> run.models_config.write_text(models_config(run, ["tfrec", "tfrec_scann"]))  # doctest: +SKIP
    """
    entries = []
    for name in names:
        entries.append(
            "  config {\n"
            f'    name: "{name}"\n'
            f'    base_path: "{run.export_model(name).resolve()}"\n'
            '    model_platform: "tensorflow"\n'
            f"    model_version_policy {{ latest {{ num_versions: {versions} }} }}\n"
            "  }\n"
        )
    return "model_config_list {\n" + "".join(entries) + "}\n"


def prune_versions(base: Path, keep: int) -> None:
    """Delete all but the `keep` highest versions under `base`.

    Example:
        >>> prune_versions(run.export_model("tfrec"), cfg.export.keep_versions)  # doctest: +SKIP
    """
    versions = sorted((int(p.name) for p in base.iterdir() if p.name.isdigit()), reverse=True)
    for v in versions[keep:]:
        shutil.rmtree(base / str(v), ignore_errors=True)


def query_fingerprint(model, text_checkpoint: str) -> str:
    """A digest of everything that turns a request into a query embedding: the retrieval
    model's query tower and query-side text encoder weights and the text checkpoint named.
    Exports of the same model carry the same value (`tfrec.json` `query_fingerprint`), so a
    server may hand the embedding one export computed to another (`ranker_embedded`).

    Args:
        model: the `RetrievalModel`.
        text_checkpoint: the config's `text.checkpoint`.

    Returns:
        16 hex digits.

    Example:
    ```python
    query_fingerprint(model, cfg.text.checkpoint)  # '3f9a0c...'
    ```
    """
    digest = hashlib.sha256(str(text_checkpoint).encode())
    layers = [model.query_tower, getattr(model, "text_encoder", None)]
    for layer in [x for x in layers if x is not None]:
        for w in sorted(layer.weights, key=lambda v: v.name):
            digest.update(w.name.encode())
            digest.update(np.ascontiguousarray(w.numpy()).tobytes())
    return digest.hexdigest()[:16]
