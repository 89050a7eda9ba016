"""SavedModel export in TF Serving layout: `tfrec export CONFIG` and the `export` stage.

    runs/<name>/export/models.config                 TF Serving model config (both models)
                export/tfrec/<version>/              ops stock TF Serving links: core TF and
                                                     TF Text's BertTokenizer (no FastBert ops)
                export/tfrec_scann/<version>/        `retrieval` runs the ScaNN index in the graph

Signatures (every id is `tf.string`; nothing takes or returns float ids):

- `query_encoder(query [B] string, user_id [B] string, recent_item_ids [B, L] string)
  -> embedding [B, D]`: raw query text ("" = home feed), the user's id (unknown -> the
  "anyone" user) and their recent items ("" pads); BERT and its tokenizer run in the graph.
- `item_encoder(item_id, title, description, category, brand [B] string, price [B] float32)
  -> embedding [B, D], in_catalog [B] bool`: content only, so items that are not in the catalog
  (cold start) get an embedding from their text without retraining. `price` NaN = unknown.
  Config-declared extra item features (`data.item_features`) are further inputs named after
  their columns: categorical and text `[B] string` ("" = unknown), numeric `[B] float32`
  (NaN = unknown; standardised in the graph with the catalog's mean and std); `tfrec serve`
  fills omitted ones as unknown.
- `retrieval(query, user_id, recent_item_ids, k [] int32) -> item_ids [B, k] string,
  scores [B, k]` (`tfrec_scann` only, ScaNN ops; `1 <= k <= export.max_k`).
- `retrieval_bruteforce(...)`: the same with a matmul and `tf.math.top_k` (both models;
  `serving_default` of `tfrec`).
- `neighbors(embedding [B, D] float32, k [] int32) -> item_ids, scores`: nearest items of an
  embedding (ScaNN in `tfrec_scann`, exact in `tfrec`); `/similar` uses it.

TF Serving's predict API needs every input of a signature: send `user_id: [""]` and
`recent_item_ids: [[""]]` for an anonymous search. `tfrec serve` fills them in when omitted.

Each version directory is written under a temporary name, checked (loaded, every warmup request
run, top-k compared with the in-process model) and only then renamed to its version number, so
a server polling `export/<model>/` never sees a half-written version. `assets.extra/` holds
`tf_serving_warmup_requests` (TF Serving's warmup format, one request per signature) and
`tfrec.json` (what a server needs to know beyond the signatures).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfrec.config import Config
from tfrec.data.schema import CATEGORY_SEPARATOR
from tfrec.index import ItemIndex, scann_search
from tfrec.pipeline import RunDir, echo

OPTIONAL_INPUTS = {"user_id": "", "recent_item_ids": ""}
# the tokenizer implementation of the stock-ops model (see `BertTokenizerLayer`)
STOCK_TOKENIZER = "wordpiece"
WARMUP_FILE = "tf_serving_warmup_requests"
INFO_FILE = "tfrec.json"


class RetrievalServingModule(tf.Module):
    """The serving graph of a trained retrieval model over an item index.

    Args:
        model: a `RetrievalModel` with a text encoder attached (`attach_text_encoder`).
        data: the run's `PreparedData` (vocabularies, catalog features).
        index: the `ItemIndex` searched (catalog items and items added later).
        max_k: int. The largest `k` the retrieval signatures accept.
        use_scann: bool. Search with ScaNN's ops (True) or stock ops only (False).
        numeric_stats: np.ndarray [M, 2] or None. Mean and standard deviation of each
            config-declared numeric item feature over the catalog (`numeric_feature_stats`), so
            `item_encoder` standardises raw values as training did; needed when there are any.
        tokenizer_implementation: str or None. Tokenize with this `BertTokenizerLayer`
            implementation (`"wordpiece"`: no FastBert ops, for stock TF Serving) through views
            of the model's text encoders that share their BERT weights; None keeps the model's
            own tokenizer. Defaults to None.
    """

    def __init__(
        self,
        model,
        data,
        index: ItemIndex,
        max_k: int,
        use_scann: bool,
        tokenizer_implementation: str | None = None,
        numeric_stats: np.ndarray | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if model.text_encoder is None:
            raise ValueError("the model needs a text encoder: call attach_text_encoder() first")
        catalog = data.catalog
        self.max_k = max_k
        self.use_scann = use_scann
        self.tokenizer_implementation = (
            tokenizer_implementation or model.text_encoder.tokenizer_implementation
        )
        self.embedding_dim = int(index.embeddings.shape[1])
        self.index_params = index.params
        # tracked parts of the model: towers, text encoder and catalog tables. Only the encoders
        # the signatures run are tracked, so no other tokenizer's ops reach the saved graph.
        self.query_tower = model.query_tower
        self.item_tower = model.item_tower
        self.text_encoder = _with_tokenizer(model.text_encoder, tokenizer_implementation)
        if model.item_text_encoder is model.text_encoder:
            self.item_text_encoder = self.text_encoder
        else:
            self.item_text_encoder = _with_tokenizer(
                model.item_text_encoder, tokenizer_implementation
            )
        # not tracked (a plain object): runs the model's query side with `self.text_encoder`
        self._query_side = _QuerySide(model, self.text_encoder)
        # every variable of the model (catalog tables included), not its optimizer
        self.model_variables = list(model.variables)
        self.user_table = _table(data.user_vocab.values[1:], 1)
        self.item_table = _table(catalog.item_ids[1:], 1)
        self.category_tables = [_table(v.values[1:], 1) for v in catalog.category_vocabs]
        self.brand_table = _table(catalog.brand_vocab.values[1:], 1)
        self.price_boundaries = tf.constant(np.asarray(catalog.price_boundaries, np.float32))
        # config-declared extra item features: optional `item_encoder` inputs
        self.extra_inputs = extra_item_inputs(catalog.extra_feature_names or {})
        self.extra_tables = [_table(v.values[1:], 1) for v in catalog.extra_categorical_vocabs]
        num_numeric = sum(e.kind == "numeric" for e in self.extra_inputs)
        stats = np.zeros((0, 2)) if numeric_stats is None else np.asarray(numeric_stats)
        if stats.shape != (num_numeric, 2):
            raise ValueError(
                f"the catalog has {num_numeric} numeric item features; `numeric_stats` must be "
                f"[{num_numeric}, 2] (mean, std; see numeric_feature_stats). Received: shape "
                f"{stats.shape}"
            )
        self.numeric_mean = tf.constant(stats[:, 0].astype(np.float32))
        self.numeric_std = tf.constant(np.where(stats[:, 1] > 0, stats[:, 1], 1).astype(np.float32))
        self.index_item_ids = tf.Variable(
            tf.constant(index.item_ids, tf.string), trainable=False, name="index_item_ids"
        )
        self.index_embeddings = tf.Variable(
            tf.constant(index.embeddings), trainable=False, name="index_embeddings"
        )
        if use_scann:
            self.scann_state = index.scann_module()

    # --- pieces ----------------------------------------------------------------------------

    def _embed_query(self, query, user_id, recent_item_ids):
        return self._query_side(
            {
                "query": query,
                "user_idx": self.user_table.lookup(user_id),
                "history": self.item_table.lookup(recent_item_ids),
            }
        )

    def _check_k(self, k):
        tf.debugging.assert_greater_equal(k, 1, message="k must be >= 1")
        tf.debugging.assert_less_equal(
            k, tf.constant(self.max_k, tf.int32), message=f"k must be <= {self.max_k}"
        )
        return tf.minimum(k, tf.shape(self.index_item_ids)[0])

    def _search(self, embedding, k, scann: bool):
        k = self._check_k(k)
        if scann:
            positions, scores = scann_search(self.scann_state, self.index_params, embedding, k)
        else:
            scores = tf.matmul(embedding, self.index_embeddings, transpose_b=True)
            scores, positions = tf.math.top_k(scores, k=k)
        return {"item_ids": tf.gather(self.index_item_ids, positions), "scores": scores}

    def _item_features(self, title, description, category, brand, price, extras=()):
        title = tf.strings.strip(title)
        description = tf.strings.strip(description)
        text = tf.where(
            tf.strings.length(description) > 0,
            tf.strings.join([title, description], separator=". "),
            title,
        )
        extra_cat, extra_num = [], []
        for spec, value in zip(self.extra_inputs, extras, strict=True):
            if spec.kind == "text":  # appended as `name: value`, as the catalog texts are
                value = tf.strings.strip(value)
                text = tf.where(
                    tf.strings.length(value) > 0,
                    tf.strings.join([text, f"{spec.column}: " + value], separator=". "),
                    text,
                )
            elif spec.kind == "categorical":
                extra_cat.append(self.extra_tables[len(extra_cat)].lookup(value))
            else:  # numeric, standardised; unknown (NaN) -> 0, the mean
                j = len(extra_num)
                z = (value - self.numeric_mean[j]) / self.numeric_std[j]
                extra_num.append(tf.where(tf.math.is_nan(value), tf.zeros_like(z), z))
        parts = tf.strings.strip(tf.strings.split(category, CATEGORY_SEPARATOR.strip()))
        parts = tf.ragged.boolean_mask(parts, tf.strings.length(parts) > 0)
        levels = []
        for i, table in enumerate(self.category_tables):
            key = tf.strings.reduce_join(parts[:, : i + 1], axis=1, separator=CATEGORY_SEPARATOR)
            present = parts.row_lengths() > i
            levels.append(tf.where(present, table.lookup(key), tf.zeros_like(present, tf.int64)))
        known = tf.logical_not(tf.math.is_nan(price))
        logp = tf.math.log1p(tf.where(known, price, tf.zeros_like(price)))
        if self.price_boundaries.shape[0]:
            bucket = tf.searchsorted(self.price_boundaries, logp, side="left")
        else:
            bucket = tf.zeros_like(logp, tf.int32)
        bucket = tf.where(known, tf.cast(bucket, tf.int64) + 1, tf.zeros_like(bucket, tf.int64))
        n = tf.shape(title)[0]
        return {
            "text_embedding": self.item_text_encoder(text),
            "category": tf.stack(levels, axis=1),
            "brand": self.brand_table.lookup(tf.strings.strip(brand)),
            "price_bucket": bucket,
            "extra_categorical": tf.stack(extra_cat, 1)
            if extra_cat
            else tf.zeros([n, 0], tf.int64),
            "extra_numeric": tf.stack(extra_num, 1) if extra_num else tf.zeros([n, 0], tf.float32),
        }

    # --- signatures ------------------------------------------------------------------------

    def query_encoder(self, query, user_id, recent_item_ids):
        return {"embedding": self._embed_query(query, user_id, recent_item_ids)}

    def item_encoder(self, item_id, title, description, category, brand, price, *extras):
        feats = self._item_features(title, description, category, brand, price, extras)
        return {
            "embedding": self.item_tower(feats, training=False),
            "in_catalog": self.item_table.lookup(item_id) > 0,
        }

    def retrieval(self, query, user_id, recent_item_ids, k):
        return self._search(self._embed_query(query, user_id, recent_item_ids), k, scann=True)

    def retrieval_bruteforce(self, query, user_id, recent_item_ids, k):
        return self._search(self._embed_query(query, user_id, recent_item_ids), k, scann=False)

    def neighbors(self, embedding, k):
        return self._search(embedding, k, scann=self.use_scann)

    def signatures(self) -> dict:
        """The concrete functions saved as signatures (traced from closures, not attributes, so
        saving does not trace them a second time)."""
        query = [
            tf.TensorSpec([None], tf.string, name="query"),
            tf.TensorSpec([None], tf.string, name="user_id"),
            tf.TensorSpec([None, None], tf.string, name="recent_item_ids"),
        ]
        k = tf.TensorSpec([], tf.int32, name="k")
        item = [
            tf.TensorSpec([None], tf.string, name=name)
            for name in ("item_id", "title", "description", "category", "brand")
        ] + [tf.TensorSpec([None], tf.float32, name="price")]
        item += [
            tf.TensorSpec([None], tf.float32 if e.kind == "numeric" else tf.string, name=e.name)
            for e in self.extra_inputs
        ]
        specs = {
            "query_encoder": (self.query_encoder, query),
            "item_encoder": (self.item_encoder, item),
            "retrieval_bruteforce": (self.retrieval_bruteforce, [*query, k]),
            "neighbors": (
                self.neighbors,
                [tf.TensorSpec([None, self.embedding_dim], tf.float32, name="embedding"), k],
            ),
        }
        if self.use_scann:
            specs["retrieval"] = (self.retrieval, [*query, k])
        sigs = {
            name: tf.function(fn, input_signature=spec).get_concrete_function()
            for name, (fn, spec) in specs.items()
        }
        sigs["serving_default"] = sigs["retrieval" if self.use_scann else "retrieval_bruteforce"]
        return sigs


@dataclass
class ExtraInput:
    """A config-declared extra item feature as an `item_encoder` input."""

    name: str  # the signature input name
    column: str  # the items column
    kind: str  # "categorical" ([B] string), "numeric" ([B] float32) or "text" ([B] string)

    @property
    def default(self):
        """The value meaning unknown (what the server fills in when it is omitted)."""
        return None if self.kind == "numeric" else ""  # None: NaN


ITEM_INPUTS = ("item_id", "title", "description", "category", "brand", "price")


def extra_item_inputs(names: dict[str, list[str]]) -> list[ExtraInput]:
    """The extra `item_encoder` inputs for a catalog's `extra_feature_names`, in the order the
    item tower reads them (categorical, numeric, then text). Column names are made valid
    signature names (other characters -> `_`)."""
    out = []
    for kind in ("categorical", "numeric", "text"):
        for column in names.get(kind, []):
            name = re.sub(r"[^A-Za-z0-9_.\-/]", "_", str(column))
            if not re.match(r"[A-Za-z0-9.]", name):
                name = f"x{name}"
            out.append(ExtraInput(name, str(column), kind))
    taken = [e.name for e in out]
    clash = sorted({n for n in taken if taken.count(n) > 1 or n in ITEM_INPUTS})
    if clash:
        raise ValueError(
            f"item features {clash} clash with other item_encoder inputs ({', '.join(ITEM_INPUTS)}"
            " or each other once made valid signature names); rename the columns"
        )
    return out


def numeric_feature_stats(items, columns: list[str]) -> np.ndarray:
    """[M, 2] mean and std of numeric item columns, as `build_catalog` standardises them."""
    import pandas as pd

    stats = np.zeros((len(columns), 2))
    for j, col in enumerate(columns):
        x = pd.to_numeric(items[col], errors="coerce").to_numpy(dtype=np.float64)
        known = ~np.isnan(x)
        stats[j] = (np.nanmean(x), np.nanstd(x)) if known.any() else (0.0, 1.0)
    return stats


def run_numeric_stats(run: RunDir, data) -> np.ndarray | None:
    """`numeric_feature_stats` of the run's clean items (None when there are no numeric ones)."""
    import pandas as pd

    columns = (data.catalog.extra_feature_names or {}).get("numeric", [])
    if not columns:
        return None
    items = pd.read_parquet(run.clean / "items.parquet", columns=list(columns))
    return numeric_feature_stats(items, columns)


def _with_tokenizer(encoder, implementation: str | None):
    if implementation is None or encoder.tokenizer_implementation == implementation:
        return encoder
    return encoder.with_tokenizer(implementation)


class _QuerySide:
    """`model.query_embeddings` run with another text encoder (a tokenizer view of the model's
    own): the model's encoder is swapped in for the call and restored after, bypassing Keras
    attribute tracking so the model is left exactly as it was."""

    def __init__(self, model, text_encoder):
        self.model = model
        self.text_encoder = text_encoder

    def __call__(self, features: dict) -> tf.Tensor:
        own = self.model.text_encoder
        if own is self.text_encoder:
            return self.model.query_embeddings(features)
        object.__setattr__(self.model, "text_encoder", self.text_encoder)
        try:
            return self.model.query_embeddings(features)
        finally:
            object.__setattr__(self.model, "text_encoder", own)


def _table(keys: list[str], start: int) -> tf.lookup.StaticHashTable:
    """string -> int64 index (`start`, `start + 1`, ...); unknown strings -> 0."""
    keys = [str(k) for k in keys] or ["\x00<none>"]
    values = np.arange(start, start + len(keys), dtype=np.int64)
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(keys), tf.constant(values)), default_value=0
    )


# --------------------------------------------------------------------------------------------
# Writing versions
# --------------------------------------------------------------------------------------------


def example_inputs(
    data, index: ItemIndex, k: int = 10, extra_inputs: list[ExtraInput] = ()
) -> dict[str, dict[str, np.ndarray]]:
    """One small, valid request per signature (used as TF Serving warmup requests and to check
    a version before it is published); extra item features are sent as unknown."""
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


def write_warmup(path: Path, model_name: str, requests: dict[str, dict]) -> None:
    """`assets.extra/tf_serving_warmup_requests`: a TFRecord of PredictionLogs (TF Serving
    replays them when it loads the version)."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature, inputs in requests.items():
            req = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
            )
            for name, value in inputs.items():
                req.inputs[name].CopyFrom(tf.make_tensor_proto(_as_tensor_value(value)))
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=req)
            )
            writer.write(log.SerializeToString())


def _as_tensor_value(value):
    value = np.asarray(value)
    if value.dtype == object:
        return np.vectorize(lambda s: str(s).encode("utf-8"), otypes=[object])(value)
    return value


def read_warmup(path: Path) -> list:
    """The PredictRequests of a warmup file."""
    from tensorflow_serving.apis import prediction_log_pb2

    out = []
    for record in tf.data.TFRecordDataset(str(path)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        out.append(log.predict_log.request)
    return out


def next_version(base: Path) -> int:
    versions = [int(p.name) for p in base.iterdir() if p.name.isdigit()] if base.exists() else []
    return max(versions, default=0) + 1


def save_version(
    module: RetrievalServingModule,
    base: Path,
    model_name: str,
    requests: dict,
    info: dict,
    version: int | None = None,
    verify=None,
) -> Path:
    """Save `module` as the next version under `base` (atomically published, see module doc).
    `verify(loaded)`, when given, runs on the loaded, warmed-up version before it is published
    and may raise to refuse it."""
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
    """Load one exported version (registers the TF Text and ScaNN ops first)."""
    import tensorflow_text  # noqa: F401  (registers the TF Text ops of the in-graph tokenizer)
    from scann import scann_ops  # noqa: F401  (registers the Scann ops the graph may use)

    return tf.saved_model.load(str(path))


def check_version(path: Path):
    """Load a version and run every warmup request; returns the loaded version, raises when
    anything fails."""
    loaded = load_version(path)
    warmup = path / "assets.extra" / WARMUP_FILE
    if not warmup.is_file():
        raise ValueError(f"{path}: no {WARMUP_FILE}; not a tfrec export")
    for req in read_warmup(warmup):
        fn = loaded.signatures[req.model_spec.signature_name]
        fn(**{k: tf.make_ndarray(v) for k, v in req.inputs.items()})
    return loaded


def saved_model_op_types(path: Path) -> set[str]:
    """Every op type in a SavedModel's graph and function library."""
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel.FromString((Path(path) / "saved_model.pb").read_bytes())
    ops = set()
    for graph in (mg.graph_def for mg in sm.meta_graphs):
        ops |= {n.op for n in graph.node}
        ops |= {n.op for f in graph.library.function for n in f.node_def}
    return ops


def custom_op_types(path: Path) -> list[str]:
    """The op types of a SavedModel that core TensorFlow does not define (`tf.raw_ops` lists
    the core ones): what a TF Serving binary must link in besides TensorFlow."""
    return sorted(op for op in saved_model_op_types(path) if not hasattr(tf.raw_ops, op))


def models_config(export_dir: Path, names: list[str], versions: int = 1) -> str:
    """TF Serving's `--model_config_file` text proto for the exported models."""
    entries = []
    for name in names:
        entries.append(
            "  config {\n"
            f'    name: "{name}"\n'
            f'    base_path: "{(export_dir / name).resolve()}"\n'
            '    model_platform: "tensorflow"\n'
            f"    model_version_policy {{ latest {{ num_versions: {versions} }} }}\n"
            "  }\n"
        )
    return "model_config_list {\n" + "".join(entries) + "}\n"


def _prune(base: Path, keep: int) -> None:
    versions = sorted((int(p.name) for p in base.iterdir() if p.name.isdigit()), reverse=True)
    for v in versions[keep:]:
        shutil.rmtree(base / str(v), ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The export of a run
# --------------------------------------------------------------------------------------------


def reference_top_k(
    model, data, index: ItemIndex, inputs: dict, k: int, scann: bool
) -> list[list[str]]:
    """The pre-export top-k: the in-process model and the Python index (or exact search)."""
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
    scores = emb @ index.embeddings.T
    return [[index.item_ids[i] for i in np.argsort(-row, kind="stable")[:k]] for row in scores]


def export_model(
    cfg: Config,
    run: RunDir,
    model,
    data,
    index: ItemIndex,
    version: int | None = None,
) -> dict[str, Path]:
    """Export both TF Serving models of a trained model and an index; returns version paths."""
    from tfrec.retrieval_training import make_text_encoder

    if model.text_encoder is None:
        model.attach_text_encoder(make_text_encoder(cfg, mode="frozen"))
    e = cfg.export
    export_dir = run.root / "export"
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
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = {}
    q = requests["retrieval"]
    # the stock-ops model tokenizes with TF Text's BertTokenizer (no FastBert ops, which stock
    # TF Serving builds may lack); the ScaNN model needs a custom build anyway and keeps the
    # model's own tokenizer. Both give the same token ids.
    for name, scann, tokenizer in (
        (e.model_name, False, STOCK_TOKENIZER),
        (e.scann_model_name, True, None),
    ):
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
        base = export_dir / name
        sig = "retrieval" if scann else "retrieval_bruteforce"
        checked = {}

        def same_top_k(loaded, sig=sig, scann=scann, checked=checked):
            # exported top-k equals the pre-export top-k (on the version before it is published)
            got = loaded.signatures[sig](
                **{k: tf.constant(_as_tensor_value(v)) for k, v in q.items()}
            )
            got = [[x.decode() for x in row] for row in got["item_ids"].numpy()]
            want = reference_top_k(model, data, index, q, int(q["k"]), scann)
            checked.update(
                same=sum(g == w for g, w in zip(got, want, strict=True)),
                n=len(want),
                signatures=sorted(loaded.signatures.keys()),
            )
            if checked["same"] != len(want):
                echo(f"[export] WARNING: {sig} differs from the in-process model: {got} vs {want}")

        model_info = {**info, "tokenizer": module.tokenizer_implementation}
        path = save_version(module, base, name, requests, model_info, version, verify=same_top_k)
        echo(
            f"[export] {path} ({time.time() - t0:.1f} s, {module.tokenizer_implementation} "
            f"tokenizer): signatures "
            f"{', '.join(checked['signatures'])}; exported top-{int(q['k'])} equals "
            f"pre-export on {checked['same']}/{checked['n']} warmup queries; non-core ops: "
            f"{', '.join(custom_op_types(path)) or 'none'}"
        )
        _prune(base, e.keep_versions)
        out[name] = path
    (export_dir / "models.config").write_text(
        models_config(export_dir, [e.model_name, e.scann_model_name])
    )
    echo(f"[export] TF Serving model config: {export_dir / 'models.config'}")
    return out


def export_run(cfg: Config, run: RunDir, version: int | None = None) -> dict[str, Path]:
    """`tfrec export CONFIG`: export the run's trained model over its index (built when the
    run has none yet)."""
    from tfrec.index import index_for_run
    from tfrec.pipeline import load_prepared
    from tfrec.retrieval_training import load_retrieval_model

    data = load_prepared(cfg, run)
    model = load_retrieval_model(cfg, run, data)
    index = index_for_run(cfg, run, data, model)
    return export_model(cfg, run, model, data, index, version)
