"""SavedModel export in TF Serving layout: `tfrec export CONFIG` and the `export` stage.

    runs/<name>/export/models.config                 TF Serving model config (both models)
                export/tfrec/<version>/              ops stock TF Serving links: core TF and
                                                     TF Text's BertTokenizer (no FastBert ops)
                export/tfrec_scann/<version>/        `retrieval` runs the ScaNN index in the graph
                export/tfrec_ranker/<version>/       `ranker` (stock ops; only when the run has a
                                                     trained ranker, see `export_ranker`)

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
- `ranker(query, user_id [B] string, recent_item_ids [B, L] string, item_id [B] string,
  position [B] int64, hour [B] int64) -> p_click, p_purchase, score, serving_score,
  retrieval_logit [B] float32, in_catalog [B] bool` (`tfrec_ranker` only): one row per
  (request, candidate); see `RankerServingModule`.

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
from tfrec.index.scann_index import ItemIndex, scann_search
from tfrec.core.rundir import RunDir
from tfrec.core.log import echo

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
    from tfrec.text.frozen import make_text_encoder

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

        def same_top_k(loaded, sig=sig, scann=scann, checked=checked, name=name):
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
        _prune(base, e.keep_versions)
        out[name] = path
    (export_dir / "models.config").write_text(
        models_config(export_dir, [e.model_name, e.scann_model_name])
    )
    echo(f"[export] TF Serving model config: {export_dir / 'models.config'}")
    return out


def export_run(cfg: Config, run: RunDir, version: int | None = None) -> dict[str, Path]:
    """`tfrec export CONFIG`: export the run's trained model over its index (built when the
    run has none yet), and its trained ranker when it has one (`export_ranker`)."""
    from tfrec.index.scann_index import index_for_run
    from tfrec.data.prepared import load_prepared
    from tfrec.training.retrieval import load_retrieval_model

    data = load_prepared(cfg, run)
    model = load_retrieval_model(cfg, run, data)
    index = index_for_run(cfg, run, data, model)
    out = export_model(cfg, run, model, data, index, version)
    ranker = export_ranker(cfg, run, model, data, index, version)
    if ranker is not None:
        out[ranker_model_name(cfg)] = ranker
        export_dir = run.root / "export"
        (export_dir / "models.config").write_text(
            models_config(
                export_dir,
                [*(n for n in out if n != ranker_model_name(cfg)), ranker_model_name(cfg)],
            )
        )
        echo(
            f"[export] TF Serving model config with {ranker_model_name(cfg)}: {export_dir / 'models.config'}"
        )
    return out


# --------------------------------------------------------------------------------------------
# The ranker
# --------------------------------------------------------------------------------------------

RANKER_INPUTS = ("query", "user_id", "recent_item_ids", "item_id", "position", "hour")
RANKER_OUTPUTS = (
    "p_click",
    "p_purchase",
    "score",
    "serving_score",
    "retrieval_logit",
    "in_catalog",
)


class RankerServingModule(tf.Module):
    """The serving graph of the trained ranker: raw candidate features -> scores.

    One row per (request, candidate): `query`, `user_id`, `recent_item_ids` [B, L] (the
    request, repeated per candidate; "" pads) and the candidate `item_id`, its `position`
    (1-based; send the ranker's `serving_position` to score "as if shown on top", which is
    what `RankingModel.serving_scores` does) and the request's `hour` (0-23). The graph embeds
    each distinct request once with the retrieval model's query tower (BERT in the graph),
    looks up the candidate's item embedding and catalog features, computes the user-history
    features and the retrieval logit (query . item / temperature), and runs the ranker.
    Candidates not in the catalog get the padding row (`in_catalog` false).

    Args:
        retrieval: RetrievalServingModule. Its query side and id tables are reused.
        ranker: the trained `RankingModel`.
        item_embeddings: np.ndarray [N, D]. The retrieval model's catalog item embeddings
            (`all_item_embeddings()`, row 0 = padding).
        item_features: dict of str to np.ndarray [N, ...]. Per-catalog-row ranker features
            (category, brand, price_bucket and item-level extras).
        catalog_features: dict with `category` [N, 3], `brand` [N], `price_bucket` [N]: the
            catalog arrays the history features compare against.
        temperature: float. The retrieval model's softmax temperature.
    """

    def __init__(
        self,
        retrieval: RetrievalServingModule,
        ranker,
        item_embeddings: np.ndarray,
        item_features: dict,
        catalog_features: dict,
        temperature: float,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.retrieval = retrieval
        self.ranker = ranker
        self.ranker_variables = list(ranker.variables)
        self.temperature = float(temperature)
        self.use_scann = False
        self.item_embeddings = tf.Variable(
            np.asarray(item_embeddings, np.float32), trainable=False, name="item_embeddings"
        )
        self.item_feature_names = sorted(item_features)
        self.item_feature_values = [
            tf.Variable(np.asarray(item_features[n]), trainable=False, name=f"item_{n}")
            for n in self.item_feature_names
        ]
        self.hist_category = tf.constant(np.asarray(catalog_features["category"], np.int64))
        self.hist_brand = tf.constant(np.asarray(catalog_features["brand"], np.int64))
        self.hist_price = tf.constant(np.asarray(catalog_features["price_bucket"], np.int64))

    def _history_features(self, hist, item):
        """`tfrec.data.ranking_examples.history_features` in the graph."""
        mask = hist > 0
        denom = tf.maximum(tf.reduce_sum(tf.cast(mask, tf.float32), 1), 1.0)

        def share(hv, iv):
            same = tf.equal(hv, iv[:, None]) & mask & (iv[:, None] > 0)
            return tf.reduce_sum(tf.cast(same, tf.float32), 1) / denom

        prices = tf.gather(self.hist_price, hist)
        priced = mask & (prices > 0)
        total = tf.reduce_sum(tf.cast(prices * tf.cast(priced, tf.int64), tf.float64), 1)
        mean_price = total / tf.maximum(tf.reduce_sum(tf.cast(priced, tf.float64), 1), 1.0)
        item_price = tf.gather(self.hist_price, item)
        gap = tf.where(
            tf.reduce_any(priced, 1) & (item_price > 0),
            tf.cast(item_price, tf.float64) - mean_price,
            tf.zeros_like(mean_price),
        )
        cat_h, cat_i = tf.gather(self.hist_category, hist), tf.gather(self.hist_category, item)
        return {
            "history_length": tf.reduce_sum(tf.cast(mask, tf.float32), 1),
            "history_price_gap": tf.cast(gap, tf.float32),
            "history_brand_share": share(
                tf.gather(self.hist_brand, hist), tf.gather(self.hist_brand, item)
            ),
            "history_leaf_share": share(cat_h[..., 2], cat_i[:, 2]),
            "history_mid_share": share(cat_h[..., 1], cat_i[:, 1]),
        }

    def ranker_scores(self, query, user_id, recent_item_ids, item_id, position, hour):
        r = self.retrieval
        # each distinct request (query, user, recent items) goes through the query tower once
        key = tf.strings.join(
            [
                query,
                user_id,
                tf.strings.reduce_join(recent_item_ids, axis=1, separator="\x1f"),
            ],
            separator="\x1e",
        )
        unique, rows = tf.unique(key)
        n = tf.shape(unique)[0]
        first = tf.math.unsorted_segment_min(tf.range(tf.shape(key)[0]), rows, n)
        q_unique = r._embed_query(
            tf.gather(query, first), tf.gather(user_id, first), tf.gather(recent_item_ids, first)
        )
        q_emb = tf.gather(q_unique, rows)
        item = r.item_table.lookup(item_id)
        i_emb = tf.gather(self.item_embeddings, item)
        hist = r.item_table.lookup(recent_item_ids)
        feats = {
            "query_embedding": q_emb,
            "item_embedding": i_emb,
            "item_idx": item,
            "hour": tf.cast(hour, tf.int64),
            "position": tf.cast(position, tf.int64),
            **self._history_features(hist, item),
        }
        for name, values in zip(self.item_feature_names, self.item_feature_values, strict=True):
            feats[name] = tf.gather(values, item)
        out = self.ranker(feats, training=False)
        logit = tf.reduce_sum(q_emb * i_emb, axis=-1) / self.temperature
        serving = tf.math.log(tf.maximum(out["score"], 1e-12))
        if self.ranker.retrieval_weight != 0.0:
            serving += self.ranker.retrieval_weight * logit
        return {
            "p_click": out["click"],
            "p_purchase": out["purchase"],
            "score": out["score"],
            "serving_score": serving,
            "retrieval_logit": logit,
            "in_catalog": item > 0,
        }

    def signatures(self) -> dict:
        spec = [
            tf.TensorSpec([None], tf.string, name="query"),
            tf.TensorSpec([None], tf.string, name="user_id"),
            tf.TensorSpec([None, None], tf.string, name="recent_item_ids"),
            tf.TensorSpec([None], tf.string, name="item_id"),
            tf.TensorSpec([None], tf.int64, name="position"),
            tf.TensorSpec([None], tf.int64, name="hour"),
        ]
        fn = tf.function(self.ranker_scores, input_signature=spec).get_concrete_function()
        return {"ranker": fn, "serving_default": fn}


def ranker_example_inputs(data, ranker, n: int = 4) -> dict[str, np.ndarray]:
    """A small valid `ranker` request: two requests (a search with a user and history, a
    query-less anonymous one) over the same `n` catalog candidates."""
    catalog = data.catalog
    ids = list(catalog.item_ids[1 : n + 1])
    query = (data.queries[1:2] or ["gift"])[0]
    user = (data.user_vocab.values[1:2] or ["nobody"])[0]
    rows = len(ids)
    return {
        "query": np.array([query] * rows + [""] * rows, dtype=object),
        "user_id": np.array([user] * rows + [""] * rows, dtype=object),
        "recent_item_ids": np.array(
            [[catalog.item_ids[1], ""]] * rows + [["", ""]] * rows, dtype=object
        ),
        "item_id": np.array(ids * 2, dtype=object),
        "position": np.full(2 * rows, ranker.serving_position, np.int64),
        "hour": np.full(2 * rows, 12, np.int64),
    }


def reference_ranker_scores(builder, retrieval_model, ranker, inputs: dict, temperature: float):
    """The in-process `serving_scores` of a `ranker` request: query embeddings from the
    retrieval model, features from `RankingFeatureBuilder.candidate_features` (one request
    per row), the retrieval logit as query . item / temperature."""
    data = builder.data
    recent = np.asarray(inputs["recent_item_ids"])
    history = data.item_vocab.lookup(list(np.ravel(recent))).reshape(recent.shape)
    feats = {
        "query": tf.constant(np.asarray(inputs["query"]).astype(str)),
        "user_idx": data.user_vocab.lookup(list(inputs["user_id"])),
        "history": history,
    }
    q_emb = retrieval_model.query_embeddings(feats).numpy()
    items = data.item_vocab.lookup(list(inputs["item_id"])).reshape(-1, 1)
    cand = builder.candidate_features(q_emb, items, np.asarray(inputs["hour"]), history)
    cand["retrieval_logit"] = (
        np.sum(cand["query_embedding"] * cand["item_embedding"], axis=1) / temperature
    ).astype(np.float32)
    out = ranker.serving_scores({k: tf.constant(v) for k, v in cand.items()})
    return {k: v.numpy() for k, v in out.items()}


def ranker_skip_reason(run: RunDir) -> str | None:
    """Why the run's ranker cannot be exported (None when it can)."""
    model_json = run.root / "ranking" / "model" / "model.json"
    if not model_json.is_file():
        return (
            f"{model_json} does not exist: the run has no trained ranker (train it with "
            "`tfrec train ranking CONFIG`)"
        )
    return None


def export_ranker(
    cfg: Config,
    run: RunDir,
    model,
    data,
    index: ItemIndex,
    version: int | None = None,
    ranker_dir: Path | None = None,
) -> Path | None:
    """Export the run's trained ranker as `export/<export.ranker_model_name>/<version>/`
    (signature `ranker`, stock TF ops with the WordPiece tokenizer); None, with the reason
    printed, when the run has no trained ranker. The exported scores are compared with the
    in-process `serving_scores` on the warmup candidates before the version is published."""
    import pandas as pd

    from tfrec.data.ranking_examples import HISTORY_FEATURES
    from tfrec.training.ranking import RankingFeatureBuilder, load_ranking_model

    name = ranker_model_name(cfg)
    ranker_dir = Path(ranker_dir) if ranker_dir is not None else run.root / "ranking" / "model"
    if ranker_dir == run.root / "ranking" / "model":
        reason = ranker_skip_reason(run)
        if reason:
            echo(f"[export] {name} skipped: {reason}")
            return None
    t0 = time.time()
    ranker, extras = load_ranking_model(ranker_dir)
    items = None
    if (run.clean / "items.parquet").exists():
        items = pd.read_parquet(run.clean / "items.parquet")
        items["item_id"] = items["item_id"].astype(str)
    builder = RankingFeatureBuilder(data, model, ranking_queries_or_none(data), None, extras, items)
    n = len(data.catalog)
    dim = builder.item_embeddings.shape[1]
    every = builder.candidate_features(
        np.zeros((1, dim), np.float32),
        np.arange(n, dtype=np.int64).reshape(1, -1),
        np.zeros(1, np.int64),
        np.zeros((1, 1), np.int64),
    )
    skip = {"query_embedding", "item_embedding", "item_idx", "hour", *HISTORY_FEATURES}
    item_features = {k: v for k, v in every.items() if k not in skip}
    c = data.catalog
    catalog_features = {
        "category": c.category_idx,
        "brand": c.brand_idx,
        "price_bucket": c.price_bucket,
    }
    temperature = float(cfg.retrieval.temperature)
    retrieval = RetrievalServingModule(
        model,
        data,
        index,
        cfg.export.max_k,
        use_scann=False,
        tokenizer_implementation=STOCK_TOKENIZER,
        numeric_stats=run_numeric_stats(run, data),
    )
    module = RankerServingModule(
        retrieval, ranker, builder.item_embeddings, item_features, catalog_features, temperature
    )
    request = ranker_example_inputs(data, ranker)
    checked = {}

    def same_scores(loaded):
        got = loaded.signatures["ranker"](
            **{k: tf.constant(_as_tensor_value(v)) for k, v in request.items()}
        )
        want = reference_ranker_scores(builder, model, ranker, request, temperature)
        diff = float(np.max(np.abs(got["serving_score"].numpy() - want["serving_score"])))
        checked.update(diff=diff, n=len(want["serving_score"]))
        if diff > 1e-3:
            raise ValueError(
                f"the exported ranker's serving_score differs from the in-process model by {diff}"
            )

    info = {
        "run": str(run.root),
        "ranker": str(ranker_dir),
        "serving_position": ranker.serving_position,
        "retrieval_weight": ranker.retrieval_weight,
        "temperature": temperature,
        "optional_inputs": {**OPTIONAL_INPUTS, "position": ranker.serving_position},
        "tokenizer": STOCK_TOKENIZER,
        "text_checkpoint": cfg.text.checkpoint,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    base = run.root / "export" / name
    path = save_version(module, base, name, {"ranker": request}, info, version, same_scores)
    echo(
        f"[export] {path} ({time.time() - t0:.1f} s): signature ranker; exported serving_score "
        f"equals in-process serving_scores on {checked['n']} warmup candidates (max |diff| "
        f"{checked['diff']:.2e}); non-core ops: {', '.join(custom_op_types(path)) or 'none'}"
    )
    _prune(base, cfg.export.keep_versions)
    return path


def ranking_queries_or_none(data) -> list[str]:
    """The query list a `RankingFeatureBuilder` is built with (only its query_embeddings,
    which the export does not call, reads it)."""
    from tfrec.data.ranking_examples import ranking_queries

    return ranking_queries(data)


def ranker_model_name(cfg: Config) -> str:
    """`export.ranker_model_name` when the config has it, else `<export.model_name>_ranker`."""
    return getattr(cfg.export, "ranker_model_name", None) or f"{cfg.export.model_name}_ranker"
