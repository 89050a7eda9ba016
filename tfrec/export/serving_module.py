"""The serving graph of a trained retrieval model (`RetrievalServingModule`): the `tfrec` and
`tfrec_scann` TF Serving models.

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
  scores [B, k]` (`1 <= k <= export.max_k`): the run's index in the graph. With a ScaNN index,
  model `tfrec_scann` (ScaNN ops); with a device index (`index.kind` exact or approx_max_k),
  model `tfrec` (stock ops: matmul + `tf.math.top_k` or `tf.math.approx_max_k` over the
  embeddings in `index.dtype`, see `tfrec.index.device_graph`), where it is `serving_default`.
- `retrieval_bruteforce(...)`: the same with a float32 matmul and `tf.math.top_k` (both
  models; `serving_default` of `tfrec` with a ScaNN index).
- `neighbors(embedding [B, D] float32, k [] int32) -> item_ids, scores`: nearest items of an
  embedding (the index of `retrieval` where the model has one, else exact); `/similar` uses it.

TF Serving's predict API needs every input of a signature: send `user_id: [""]` and
`recent_item_ids: [[""]]` for an anonymous search. `tfrec serve` fills them in when omitted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.core.rundir import RunDir
from tfrec.data.schema import CATEGORY_SEPARATOR
from tfrec.index.device_graph import TF_DTYPES, device_search
from tfrec.index.device_index import DeviceIndex
from tfrec.index.params import DEVICE_MODES
from tfrec.index.scann_graph import scann_search
from tfrec.index.scann_index import ItemIndex

# the inputs a server may omit, with the value that stands for "none"
OPTIONAL_INPUTS = {"user_id": "", "recent_item_ids": ""}
# the tokenizer implementation of the stock-ops model (see `BertTokenizerLayer`)
STOCK_TOKENIZER = "wordpiece"


class RetrievalServingModule(tf.Module):
    """The serving graph of a trained retrieval model over an item index.

    Args:
        model: a `RetrievalModel` with a text encoder attached (`attach_text_encoder`).
        data: the run's `PreparedData` (vocabularies, catalog features).
        index: the `ItemIndex` (ScaNN) or `DeviceIndex` searched (catalog items and items
            added later). A `DeviceIndex` gives the stock-ops model a `retrieval` signature.
        max_k: int. The largest `k` the retrieval signatures accept.
        use_scann: bool. Search with ScaNN's ops (True; needs a ScaNN index) or stock ops only
            (False).
        numeric_stats: np.ndarray [M, 2] or None. Mean and standard deviation of each
            config-declared numeric item feature over the catalog (`numeric_feature_stats`), so
            `item_encoder` standardises raw values as training did; needed when there are any.
        tokenizer_implementation: str or None. Tokenize with this `BertTokenizerLayer`
            implementation (`"wordpiece"`: no FastBert ops, for stock TF Serving) through views
            of the model's text encoders that share their BERT weights; None keeps the model's
            own tokenizer. Defaults to None.

    Example:
        >>> module = RetrievalServingModule(
        ...     model, data, index, max_k=50, use_scann=False, tokenizer_implementation="wordpiece"
        ... )  # doctest: +SKIP
        >>> tf.saved_model.save(module, path, signatures=module.signatures())  # doctest: +SKIP
    """

    def __init__(
        self,
        model,
        data,
        index: ItemIndex | DeviceIndex,
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
        # not tracked (a bound method, not a trackable object): the model's query side, run
        # with `self.text_encoder` (`query_embeddings(..., text_encoder=...)`)
        self._query_embeddings = model.query_embeddings
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
        # a device index (exact / approx_max_k): its table in `index.dtype` (the float32
        # `index_embeddings` when that is float32), searched by the `retrieval` signature
        self.device_mode = index.params.mode if index.params.mode in DEVICE_MODES else None
        if use_scann and self.device_mode:
            raise ValueError(
                f"use_scann needs a ScaNN index; this one is a {self.device_mode} index "
                "(index.kind), exported with stock ops only (use_scann=False)"
            )
        if self.device_mode:
            self.index_recall_target = index.params.recall_target
            if index.params.dtype == "float32":
                self.index_table = self.index_embeddings
            else:
                self.index_table = tf.Variable(
                    tf.cast(tf.constant(index.embeddings), TF_DTYPES[index.params.dtype]),
                    trainable=False,
                    name="index_table",
                )
        if use_scann:
            self.scann_state = index.scann_module()

    # --- pieces ----------------------------------------------------------------------------

    def embed_query(self, query, user_id, recent_item_ids):
        """Query embeddings [B, D] of raw request inputs (the `query_encoder` signature's body;
        `RankerServingModule` reuses it)."""
        return self._query_embeddings(
            {
                "query": query,
                "user_idx": self.user_table.lookup(user_id),
                "history": self.item_table.lookup(recent_item_ids),
            },
            text_encoder=self.text_encoder,
        )

    def _check_k(self, k):
        tf.debugging.assert_greater_equal(k, 1, message="k must be >= 1")
        tf.debugging.assert_less_equal(
            k, tf.constant(self.max_k, tf.int32), message=f"k must be <= {self.max_k}"
        )
        return tf.minimum(k, tf.shape(self.index_item_ids)[0])

    def _search(self, embedding, k, use_index: bool):
        """Top-k through the run's index (`use_index`: ScaNN or the device index, whichever
        this model holds) or exactly in float32."""
        k = self._check_k(k)
        if use_index and self.use_scann:
            positions, scores = scann_search(self.scann_state, self.index_params, embedding, k)
        elif use_index and self.device_mode:
            positions, scores = device_search(
                self.index_table,
                embedding,
                k,
                self.max_k,
                self.device_mode,
                self.index_recall_target,
            )
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
        return {"embedding": self.embed_query(query, user_id, recent_item_ids)}

    def item_encoder(self, item_id, title, description, category, brand, price, *extras):
        feats = self._item_features(title, description, category, brand, price, extras)
        return {
            "embedding": self.item_tower(feats, training=False),
            "in_catalog": self.item_table.lookup(item_id) > 0,
        }

    def retrieval(self, query, user_id, recent_item_ids, k):
        return self._search(self.embed_query(query, user_id, recent_item_ids), k, True)

    def retrieval_bruteforce(self, query, user_id, recent_item_ids, k):
        return self._search(self.embed_query(query, user_id, recent_item_ids), k, False)

    def neighbors(self, embedding, k):
        return self._search(embedding, k, True)

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
        if self.use_scann or self.device_mode:
            specs["retrieval"] = (self.retrieval, [*query, k])
        sigs = {
            name: tf.function(fn, input_signature=spec).get_concrete_function()
            for name, (fn, spec) in specs.items()
        }
        sigs["serving_default"] = sigs[
            "retrieval" if "retrieval" in sigs else "retrieval_bruteforce"
        ]
        return sigs


@dataclass
class ExtraInput:
    """A config-declared extra item feature as an `item_encoder` input.

    Args:
        name: str. The signature input name.
        column: str. The items column.
        kind: str. "categorical" ([B] string), "numeric" ([B] float32) or "text" ([B] string).

    Example:
        >>> ExtraInput("rating", "rating", "numeric").default is None  # None: NaN
        True
    """

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
    signature names (other characters -> `_`).

    Args:
        names: dict of kind ("categorical", "numeric", "text") to column names.

    Returns:
        list of `ExtraInput`.

    Raises:
        ValueError: when two names, or a name and a built-in `item_encoder` input, clash.

    Example:
        >>> [e.name for e in extra_item_inputs({"categorical": ["size (EU)"]})]
        ['size__EU_']
    """
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
    """[M, 2] mean and std of numeric item columns, as `build_catalog` standardises them.

    Args:
        items: pd.DataFrame with the `columns`.
        columns: list of str. The numeric item feature columns, in the catalog's order.

    Returns:
        np.ndarray [M, 2] float64: (mean, std) per column over the known values; (0, 1) for a
        column without any.

    Example:
        >>> numeric_feature_stats(pd.DataFrame({"rating": [1.0, 3.0, None]}), ["rating"])
        array([[2., 1.]])
    """
    stats = np.zeros((len(columns), 2))
    for j, col in enumerate(columns):
        x = pd.to_numeric(items[col], errors="coerce").to_numpy(dtype=np.float64)
        known = ~np.isnan(x)
        stats[j] = (np.nanmean(x), np.nanstd(x)) if known.any() else (0.0, 1.0)
    return stats


def run_numeric_stats(run: RunDir, data) -> np.ndarray | None:
    """`numeric_feature_stats` of the run's clean items (None when there are no numeric ones).

    Args:
        run: the run directory (its `data/clean/items.parquet` is read).
        data: the run's `PreparedData` (which numeric features the catalog declares).

    Example:
        >>> run_numeric_stats(RunDir(cfg.run_path), data)  # doctest: +SKIP
    """
    columns = (data.catalog.extra_feature_names or {}).get("numeric", [])
    if not columns:
        return None
    items = pd.read_parquet(run.clean_table("items"), columns=list(columns))
    return numeric_feature_stats(items, columns)


def _with_tokenizer(encoder, implementation: str | None):
    """`encoder`, or its view with the `implementation` tokenizer (shared BERT weights)."""
    if implementation is None or encoder.tokenizer_implementation == implementation:
        return encoder
    return encoder.with_tokenizer(implementation)


def _table(keys: list[str], start: int) -> tf.lookup.StaticHashTable:
    """string -> int64 index (`start`, `start + 1`, ...); unknown strings -> 0."""
    keys = [str(k) for k in keys] or ["\x00<none>"]
    values = np.arange(start, start + len(keys), dtype=np.int64)
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(keys), tf.constant(values)), default_value=0
    )
