"""tf.data pipelines over the prepared data: retrieval batches, ranking impressions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import tensorflow as tf

from tfrec.data.prepared import PreparedData


def retrieval_features(data: PreparedData, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The feature arrays of retrieval examples (or evaluation instances) for the towers.

    Args:
        data: PreparedData. Queries by index and `max_history`.
        frame: pd.DataFrame. Rows with `user_idx`, `history` and optionally `query_idx`.

    Returns:
        {"query": strings, "query_idx", "user_idx", "history"} as numpy arrays.

    Example:
        >>> feats = retrieval_features(data, data.search_eval["test"])
    """
    history = (
        np.stack(frame["history"].to_numpy())
        if len(frame)
        else np.zeros((0, data.max_history), dtype=np.int64)
    )
    query_idx = (
        frame["query_idx"].to_numpy(dtype=np.int64)
        if "query_idx" in frame
        else np.zeros(len(frame), np.int64)
    )
    return {
        "query": np.array([data.queries[i] for i in query_idx], dtype=object),
        "query_idx": query_idx,
        "user_idx": frame["user_idx"].to_numpy(dtype=np.int64),
        "history": history.astype(np.int64),
    }


def retrieval_dataset(
    data: PreparedData,
    split: str = "train",
    batch_size: int = 256,
    shuffle: bool = True,
    seed: int = 42,
    history_example_weight: float = 1.0,
    include_text: bool = True,
    tokenizer=None,
):
    """(query/user features, positive item) batches for `RetrievalModel.fit`, with the logQ
    sampling probability of each positive. `include_text=False` leaves the raw query strings
    out (frozen mode reads cached embeddings by `query_idx`; TPUs cannot take strings). With a
    `tokenizer` (a `BertTokenizerLayer`), queries are tokenized here, on the host, into
    `query_input_ids`, `query_attention_mask` and `query_token_type_ids`, and the strings are
    dropped: what a trained BERT on a TPU needs.

    Args:
        data: PreparedData. The retrieval examples and sampling probabilities.
        split: str. `train`, `val` or `test`. Defaults to `train`.
        batch_size: int. Defaults to 256.
        shuffle: bool. Shuffle (seeded, reshuffled each epoch) and drop the last partial batch.
            Defaults to True.
        seed: int. The shuffle seed. Defaults to 42.
        history_example_weight: float. Weight of home-feed examples (searches weigh 1).
            Defaults to 1.0.
        include_text: bool. Keep the raw query strings. Defaults to True.
        tokenizer: BertTokenizerLayer | None. Tokenize queries on the host. Defaults to None.

    Example:
        >>> batch = next(iter(retrieval_dataset(data, "train", batch_size=8)))
    """
    frame = data.retrieval[data.retrieval.split == split]
    if frame.empty:
        raise ValueError(f"no retrieval examples in split {split!r}")
    feats = retrieval_features(data, frame)
    item_idx = frame["item_idx"].to_numpy(dtype=np.int64)
    weight = np.where(frame["query_idx"].to_numpy() > 0, 1.0, history_example_weight)
    feats.update(
        {
            "item_idx": item_idx,
            "sampling_probability": data.sampling_probability[item_idx].astype(np.float32),
            "weight": weight.astype(np.float32),
        }
    )
    if include_text:
        feats["query"] = feats["query"].astype(str)
    else:
        feats.pop("query")
    ds = tf.data.Dataset.from_tensor_slices(feats)
    if shuffle:
        ds = ds.shuffle(min(len(frame), 100_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=shuffle)
    if tokenizer is not None and include_text:

        def tokenize(batch):
            batch = dict(batch)
            tokens = tokenizer(batch.pop("query"))
            # the batch's static size (dropped remainder) stays known, as a TPU needs
            rows = batch["item_idx"].shape[0]
            batch.update(
                {
                    f"query_{key}": tf.ensure_shape(value, [rows, value.shape[1]])
                    for key, value in tokens.items()
                }
            )
            return batch

        ds = ds.map(tokenize, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def impression_dataset(data: PreparedData, split: str = "train", batch_size: int = 512):
    """(user, query, item, position) -> click / add_to_cart / purchase labels, for ranking.

    Args:
        data: PreparedData. The impression examples and the user vocabulary.
        split: str. `train`, `val` or `test`. Defaults to `train`.
        batch_size: int. Defaults to 512.

    Example:
        >>> features, labels = next(iter(impression_dataset(data, "test", batch_size=64)))
    """
    frame = data.impressions[data.impressions.split == split]
    if frame.empty:
        raise ValueError(f"no impression examples in split {split!r}")
    position = pd.to_numeric(frame["position"], errors="coerce")
    if position.isna().any():
        raise ValueError(
            f"{int(position.isna().sum())} impressions in split {split!r} have no position; "
            "ranking needs the position each item was shown at"
        )
    feats = {
        "query": frame["query"].astype(str).to_numpy(),
        "user_idx": data.user_vocab.lookup(frame["user_id"].tolist()),
        "item_idx": frame["item_idx"].to_numpy(dtype=np.int64),
        "position": position.to_numpy(dtype=np.int64),
    }
    labels = {k: frame[k].to_numpy(dtype=np.float32) for k in ("click", "add_to_cart", "purchase")}
    return tf.data.Dataset.from_tensor_slices((feats, labels)).batch(batch_size)
