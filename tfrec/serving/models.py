"""Loaded model versions, watched and swapped like TF Serving does.

`ModelManager(export_dir)` serves every `export/<model_name>/` directory. A version is a
directory named by an integer; the newest one that loads *and* answers all its warmup requests
(`assets.extra/tf_serving_warmup_requests`) becomes the served version. `poll()` (run by a
background thread every `poll_seconds`) loads new versions while the old one keeps serving and
then swaps one reference: a request holds the `LoadedVersion` it started with until it ends, so
a swap never drops or breaks a request. A version that fails to load or to answer its warmup is
refused (its error is reported by `GET /v1/models/<name>`) and the previous version keeps serving;
a refused version is tried again once its files change (one seen half-copied loads when the copy
completes, as TF Serving retries a failed load). Version directories are named by ASCII digits
only (`is_version_name`); any other name ("²", "v2", ".partial") is not a version.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

import tfrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from tfrec.core.log import echo
from tfrec.serving.batching import BatchQueue
from tfrec.serving.errors import ServingError

WARMUP = "assets.extra/tf_serving_warmup_requests"
INFO = "assets.extra/tfrec.json"
VERSION_NAME = re.compile(r"[0-9]{1,18}")  # ASCII digits; 18 keep it an int64


def is_version_name(name: str) -> bool:
    """True for a version directory's name: ASCII digits only. `str.isdigit()` is True for
    "²" and other Unicode digits that `int()` refuses.

    Example:
        >>> is_version_name("12"), is_version_name("²"), is_version_name("v2")
        (True, False, False)
    """
    return VERSION_NAME.fullmatch(name) is not None


def version_fingerprint(path: Path) -> tuple:
    """(relative path, size, mtime) of every file under a version directory: it changes while
    the directory is copied in, so a version refused half-copied is tried again."""
    try:
        return tuple(
            sorted(
                (str(f.relative_to(path)), st.st_size, st.st_mtime_ns)
                for f in path.rglob("*")
                if (st := f.stat()) and f.is_file()
            )
        )
    except OSError:  # a file vanished while listed: a copy or a removal in progress
        return ("changing",)


@dataclass
class LoadedVersion:
    """One loaded SavedModel version and its signatures."""

    name: str
    version: int
    path: Path
    loaded: object
    signature_defs: dict  # name -> SignatureDef proto
    info: dict = field(default_factory=dict)
    # what the server builds per version before swapping it in (`ModelManager(on_load=...)`):
    # the product pipeline's shop context
    extras: dict = field(default_factory=dict)
    # signature name -> its batch queue (`enable_batching`); the others run one call each
    batch_queues: dict = field(default_factory=dict)

    def enable_batching(self, batching) -> None:
        """Queue the calls of every signature named in `batching.max_batch_size` that this
        version has (`tfrec.serving.batching.BatchQueue`).

        Args:
            batching: a `BatchingConfig` (`serving.batching`); not enabled: nothing is queued.

        Example:
        ```python
        version.enable_batching(cfg.serving.batching)
        version.run("query_encoder", inputs)  # grouped with concurrent calls
        ```
        """
        if batching is None or not batching.enabled:
            return
        for sig_name, max_rows in batching.max_batch_size.items():
            if sig_name in self.signature_defs and sig_name not in self.batch_queues:
                fn = self.loaded.signatures[sig_name]
                self.batch_queues[sig_name] = BatchQueue(
                    lambda tensors, fn=fn: _call(fn, tensors),
                    f"{self.name}:{self.version}/{sig_name}",
                    max_rows,
                    batching.batch_timeout_micros,
                    batching.max_enqueued_batches,
                    batching.num_batch_threads,
                )

    def close(self) -> None:
        """Stop the batch queues once what they hold has run (the version was swapped out)."""
        for queue in self.batch_queues.values():
            queue.close()

    def signature(self, name: str):
        name = name or "serving_default"
        if name not in self.signature_defs:
            raise ServingError(
                f'Serving signature name: "{name}" not found in signature def. Known: '
                f"{', '.join(sorted(self.signature_defs))}",
            )
        return self.loaded.signatures[name], self.signature_defs[name]

    def run(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Check `inputs` against the signature, fill optional inputs, run, return numpy."""
        fn, sig = self.signature(signature_name)
        optional = self.info.get("optional_inputs", {})
        unknown = [k for k in inputs if k not in sig.inputs]
        if unknown:
            raise ServingError(
                f"input tensor alias not found in signature: {unknown[0]}. Inputs expected to be "
                f"in the set {{{','.join(sorted(sig.inputs))}}}."
            )
        batch = _batch_size(inputs)
        tensors = {}
        for key, spec in sig.inputs.items():
            dtype = tf.dtypes.as_dtype(spec.dtype)
            dims = [d.size for d in spec.tensor_shape.dim]
            if key not in inputs:
                if key in optional and batch is not None:
                    shape = [batch] + [1] * (len(dims) - 1)
                    default = optional[key]
                    if dtype == tf.string:
                        inputs[key] = np.full(shape, default or "", object)
                    else:  # None: unknown (NaN)
                        inputs[key] = np.full(shape, np.nan if default is None else default)
                else:
                    raise ServingError(f"Missing input tensor alias: {key}")
            tensors[key] = _to_tensor(key, inputs[key], dtype, dims)
        queue = self.batch_queues.get(signature_name or "serving_default")
        return _call(fn, tensors) if queue is None else queue.call(tensors)


def _call(fn, tensors: dict) -> dict[str, np.ndarray]:
    """One call of a signature function; its errors as `ServingError` (400)."""
    try:
        out = fn(**tensors)
    except (tf.errors.InvalidArgumentError, ValueError, TypeError) as e:
        raise ServingError(_short(e)) from None
    return {k: v.numpy() for k, v in out.items()}


def _short(e: Exception) -> str:
    """The informative part of an error (TF's graph errors lead with node tracebacks)."""
    msg = (getattr(e, "message", None) or str(e)).strip()
    failed = re.search(r"assertion failed: (.*?)(?:\n|\t|$)", msg)
    if failed:  # an in-graph check such as `k must be <= max_k`
        return re.sub(r"\] \[", " ", failed.group(1)).strip("[] ")[:500]
    parts = [
        p.strip()
        for p in msg.split("\n\n")
        if p.strip()
        and not p.strip().startswith(("Graph execution error", "Detected at node", 'File "'))
    ]
    text = parts[0] if parts else msg
    return " ".join(line.strip() for line in text.splitlines()[:3])[:500]


def _batch_size(inputs: dict) -> int | None:
    for v in inputs.values():
        a = np.asarray(v, dtype=object) if not isinstance(v, np.ndarray) else v
        if a.ndim >= 1:
            return int(a.shape[0])
    return None


def _to_tensor(key: str, value, dtype: tf.DType, dims: list[int]) -> tf.Tensor:
    if dtype == tf.string:
        arr = np.asarray(value, dtype=object)
        bad = [x for x in arr.ravel().tolist() if not isinstance(x, (str, bytes))]
        if bad:
            raise ServingError(
                f"input '{key}' must hold strings (DT_STRING); got {type(bad[0]).__name__} {bad[0]!r}"
            )
    else:
        try:
            arr = np.asarray(value)
            if arr.dtype == object or arr.dtype.kind in "USb" and dtype != tf.bool:
                raise ValueError
            if dtype.is_integer and arr.dtype.kind == "f" and not np.all(np.mod(arr, 1) == 0):
                raise ValueError
            if dtype.is_integer:
                check_int_range(key, arr, dtype)
            arr = arr.astype(dtype.as_numpy_dtype)
        except (ValueError, TypeError):
            raise ServingError(
                f"input '{key}' must be {dtype.name} (DT_{dtype.name.upper()}); got {np.asarray(value, dtype=object).ravel()[:3].tolist()}"
            ) from None
    if len(dims) != arr.ndim or any(d not in (-1, s) for d, s in zip(dims, arr.shape, strict=True)):
        want = "[" + ",".join("?" if d == -1 else str(d) for d in dims) + "]"
        raise ServingError(f"input '{key}' must have shape {want}; got {list(arr.shape)}")
    try:  # str is encoded to UTF-8 by TensorFlow (in C++, ten times a Python loop's speed)
        return tf.constant(arr, dtype=dtype)
    except (ValueError, UnicodeEncodeError):  # a lone surrogate has no UTF-8 form
        if dtype != tf.string:
            raise
        raise ServingError(f"input '{key}' holds a string that has no UTF-8 form") from None


def check_int_range(key: str, arr: np.ndarray, dtype: tf.DType) -> None:
    """Refuse integers outside `dtype`'s range before the cast would wrap them (`k`
    4294967299 is not 3 in int32, 2**63 is not 0).

    Example:
        >>> check_int_range("k", np.array(4294967299), tf.int32)
        Traceback (most recent call last):
        ...
        tfrec.serving.models.ServingError: input 'k' holds 4294967299, outside the int32 range ...
    """
    if arr.size == 0 or arr.dtype.kind not in "iuf":
        return
    info = np.iinfo(dtype.as_numpy_dtype)
    low, high = arr.min(), arr.max()
    # compared as Python numbers: numpy would wrap or round a uint64 against int64 bounds
    low = int(low) if arr.dtype.kind in "iu" else float(low)
    high = int(high) if arr.dtype.kind in "iu" else float(high)
    if low < info.min or high > info.max:
        bad = high if high > info.max else low
        raise ServingError(
            f"input '{key}' holds {bad}, outside the {dtype.name} range [{info.min}, {info.max}]"
        )


def load_version(name: str, path: Path) -> LoadedVersion:
    """Load a version and run every warmup request; raises on any failure."""
    # deferred: the ops libraries (TF Text, ScaNN) and TF Serving's protos load with the first
    # version, not with the module; the loader registers the ops the exported graphs use
    import tensorflow_text  # noqa: F401  (registers the TF Text ops of the in-graph tokenizer)
    from tensorflow_serving.apis import prediction_log_pb2  # deferred: as above

    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((path / "saved_model.pb").read_bytes())
    if _uses_scann_ops(sm):  # a stock-ops version (a device index) loads without ScaNN
        from scann import scann_ops  # noqa: F401  deferred: registers the Scann ops it uses
    defs = dict(sm.meta_graphs[0].signature_def)
    info_path = path / INFO
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    loaded = tf.saved_model.load(str(path))
    version = LoadedVersion(name, int(path.name), path, loaded, defs, info)
    warmup = path / WARMUP
    if warmup.exists():
        for record in tf.data.TFRecordDataset(str(warmup)):
            req = prediction_log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
            version.run(
                req.model_spec.signature_name,
                {k: tf.make_ndarray(v) for k, v in req.inputs.items()},
            )
    return version


def _uses_scann_ops(sm) -> bool:
    """Whether a SavedModel proto's graph or function library runs ScaNN's ops."""
    for graph in (mg.graph_def for mg in sm.meta_graphs):
        nodes = [*graph.node, *(n for f in graph.library.function for n in f.node_def)]
        if any(n.op.startswith("Scann") for n in nodes):
            return True
    return False


class ModelManager:
    """Serves the newest good version of every model under `export_dir`.

    Args:
        export_dir: Path. The run's `export/` directory (`<model>/<version>/`).
        poll_seconds: float. How often new versions are looked for. Defaults to 2.
        on_load: callable taking a `LoadedVersion`, or None. Run on every loaded and warmed-up
            version before it is swapped in (the product pipeline builds the version's shop
            context here); when it raises, the version is refused. Defaults to None.
        batching: a `BatchingConfig` (`serving.batching`) or None. Each loaded version queues
            its signatures' calls into batches (`LoadedVersion.enable_batching`); the version
            swapped out runs what it holds queued, then stops its queues. Defaults to None
            (every call on its own).
        models: names of the models to serve; None or empty: every model directory.
    """

    def __init__(
        self,
        export_dir: Path,
        poll_seconds: float = 2.0,
        on_load=None,
        batching=None,
        models=None,
    ):
        self.export_dir = Path(export_dir)
        self.models = set(models or ())
        self.poll_seconds = poll_seconds
        self.on_load = on_load
        self.batching = batching
        self._current: dict[str, LoadedVersion] = {}
        self._refused: dict[str, dict[int, str]] = {}
        # name -> version -> the files it was refused with (a change means: try again)
        self._refused_files: dict[str, dict[int, tuple]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.swaps = 0

    def model_names(self) -> list[str]:
        return sorted(self._current)

    def get(self, name: str, version: int | None = None) -> LoadedVersion:
        current = self._current.get(name)
        if current is None:
            raise ServingError(f"Servable not found for request: Latest({name})", 404, "NOT_FOUND")
        if version is not None and version != current.version:
            raise ServingError(
                f"Servable not found for request: Specific({name}, {version})", 404, "NOT_FOUND"
            )
        return current

    def status(self, name: str) -> list[dict]:
        if name not in self._current and name not in self._refused:
            raise ServingError(f"Could not find any versions of model {name}", 404, "NOT_FOUND")
        out = []
        if name in self._current:
            v = self._current[name]
            out.append(
                {
                    "version": str(v.version),
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            )
        with self._lock:
            refused = sorted(self._refused.get(name, {}).items())
        for version, err in refused:
            out.append(
                {
                    "version": str(version),
                    "state": "END",
                    "status": {"error_code": "UNKNOWN", "error_message": err},
                }
            )
        return out

    def poll(self) -> None:
        """Load the newest unseen version of each model; swap it in when it is good."""
        if not self.export_dir.is_dir():
            return
        for model_dir in sorted(p for p in self.export_dir.iterdir() if p.is_dir()):
            name = model_dir.name
            if self.models and name not in self.models:
                continue
            versions = sorted(
                (
                    int(p.name)
                    for p in model_dir.iterdir()
                    if p.is_dir() and is_version_name(p.name)
                ),
                reverse=True,
            )
            current = self._current.get(name)
            with self._lock:
                refused = self._refused.setdefault(name, {})
                refused_files = self._refused_files.setdefault(name, {})
            for v in versions:
                if current is not None and v <= current.version:
                    break
                path = model_dir / str(v)
                files = version_fingerprint(path)  # before loading: a copy may still run
                if v in refused and refused_files.get(v) == files:
                    continue  # refused as it is now; tried again when its files change
                t0 = time.time()
                loaded = None
                try:
                    loaded = load_version(name, path)
                    loaded.enable_batching(self.batching)
                    if self.on_load is not None:
                        self.on_load(loaded)
                except Exception as e:  # a broken version must never take the server down
                    if loaded is not None:
                        loaded.close()
                    error = f"{type(e).__name__}: {_short(e)}"
                    with self._lock:
                        again = v in refused
                        refused[v], refused_files[v] = error, files
                    echo(f"[serve] refused {name} version {v}{' again' if again else ''}: {error}")
                    continue
                with self._lock:
                    refused.pop(v, None)
                    refused_files.pop(v, None)
                    self._current[name] = loaded
                    self.swaps += 1
                if current is not None:  # requests that hold it still finish (unbatched)
                    current.close()
                echo(
                    f"[serve] {name} version {v} serving (loaded and warmed up in "
                    f"{time.time() - t0:.1f} s)"
                )
                break
            if not refused:
                with self._lock:
                    self._refused.pop(name, None)
                    self._refused_files.pop(name, None)

    def refused_count(self) -> int:
        """How many versions are refused now, over all models (for /metrics)."""
        with self._lock:
            return sum(len(v) for v in self._refused.values())

    def start(self) -> None:
        self.poll()

        def loop():
            while not self._stop.wait(self.poll_seconds):
                try:
                    self.poll()
                except Exception as e:  # keep polling whatever happens on disk
                    echo(f"[serve] poll failed: {e}")

        self._thread = threading.Thread(target=loop, name="version-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def close(self) -> None:
        """Stop the served versions' batch queues (after `stop`, once requests have ended)."""
        for version in list(self._current.values()):
            version.close()
