import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from tfrec.text.backbone import (
    CheckpointError,
    checkpoint_fingerprint,
    load_bert,
    resolve_checkpoint,
    set_trainable_mode,
)


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_resolve_minilm_and_local_dir(tiny_bert_dir, minilm_dir):
    assert resolve_checkpoint("minilm") == minilm_dir
    assert resolve_checkpoint(str(tiny_bert_dir)) == tiny_bert_dir


def test_resolve_hub_name_offline_says_so(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match=r"offline \(HF_HUB_OFFLINE=1\).*local"):
        resolve_checkpoint("bert-base-uncased")


def test_resolve_missing_local_path(tmp_path):
    with pytest.raises(CheckpointError, match="directory .* does not exist"):
        resolve_checkpoint(str(tmp_path / "nowhere" / "ckpt"))


def test_loads_the_safetensors_weights(tiny_bert_dir):
    bert = load_bert(tiny_bert_dir)
    state = load_file(str(tiny_bert_dir / "model.safetensors"))
    # Dense kernels are stored transposed in PyTorch checkpoints.
    layer = bert.bert.encoder.layer[1]
    np.testing.assert_allclose(
        layer.attention.self_attention.query.kernel.numpy(),
        state["encoder.layer.1.attention.self.query.weight"].T,
    )
    np.testing.assert_allclose(
        layer.bert_output.LayerNorm.gamma.numpy(), state["encoder.layer.1.output.LayerNorm.weight"]
    )
    np.testing.assert_allclose(
        bert.bert.embeddings.weight.numpy(), state["embeddings.word_embeddings.weight"]
    )


def test_bert_prefixed_keys_load_too(tiny_bert_dir, tmp_path):
    ckpt = _copy(tiny_bert_dir, tmp_path / "prefixed")
    state = load_file(str(ckpt / "model.safetensors"))
    state = {f"bert.{k}": v for k, v in state.items()}
    state["cls.predictions.bias"] = np.zeros(3, np.float32)  # a head tfrec does not use
    save_file(state, str(ckpt / "model.safetensors"))
    a = load_bert(ckpt).bert.embeddings.weight.numpy()
    b = load_bert(tiny_bert_dir).bert.embeddings.weight.numpy()
    np.testing.assert_array_equal(a, b)


def test_h5_checkpoint_gives_the_same_model(tiny_bert_dir, tmp_path):
    bert = load_bert(tiny_bert_dir)
    h5_dir = tmp_path / "h5"
    bert.save_pretrained(str(h5_dir), safe_serialization=False)
    shutil.copy(tiny_bert_dir / "vocab.txt", h5_dir / "vocab.txt")
    assert (h5_dir / "tf_model.h5").is_file() and not (h5_dir / "model.safetensors").exists()
    ids = np.array([[2, 60, 61, 3]], np.int32)
    again = load_bert(h5_dir)
    np.testing.assert_allclose(
        again(input_ids=ids).last_hidden_state.numpy(),
        bert(input_ids=ids).last_hidden_state.numpy(),
        atol=1e-6,
    )


def test_weights_of_another_architecture_are_rejected(tiny_bert_dir, tmp_path):
    ckpt = _copy(tiny_bert_dir, tmp_path / "renamed")
    state = load_file(str(ckpt / "model.safetensors"))
    save_file({f"roberta.{k}": v for k, v in state.items()}, str(ckpt / "model.safetensors"))
    with pytest.raises(CheckpointError, match="not in the file and would stay at their random"):
        load_bert(ckpt)


def test_clear_errors_for_broken_checkpoints(tiny_bert_dir, make_tiny_bert, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_bert(tmp_path / "missing")
    no_config = _copy(tiny_bert_dir, tmp_path / "no_config")
    (no_config / "config.json").unlink()
    with pytest.raises(CheckpointError, match="has no config.json"):
        load_bert(no_config)
    no_weights = make_tiny_bert(tmp_path / "no_weights", weights="none")
    with pytest.raises(CheckpointError, match=r"no weights file .*found: config.json"):
        load_bert(no_weights)
    no_vocab = _copy(tiny_bert_dir, tmp_path / "no_vocab")
    (no_vocab / "vocab.txt").unlink()
    with pytest.raises(CheckpointError, match="has no vocab.txt"):
        load_bert(no_vocab)


def test_pytorch_bin_without_torch_says_so(tiny_bert_dir, tmp_path):
    try:
        import torch  # noqa: F401

        pytest.skip("torch is installed here")
    except ImportError:
        pass
    ckpt = _copy(tiny_bert_dir, tmp_path / "pt")
    (ckpt / "model.safetensors").rename(ckpt / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pytorch_model.bin, which needs PyTorch"):
        load_bert(ckpt)


def test_too_many_trainable_layers(tiny_bert_dir):
    with pytest.raises(CheckpointError, match="fine-tune 8 layers but checkpoint .* has 2"):
        load_bert(tiny_bert_dir, trainable_mode="top_k_layers", trainable_layers=8)


def test_trainable_modes(tiny_bert_dir):
    bert = load_bert(tiny_bert_dir, trainable_mode="frozen")
    assert bert.trainable_weights == []

    set_trainable_mode(bert, "top_k_layers", 1)
    names = [w.name for w in bert.trainable_weights]
    assert names and all("encoder/layer_._1/" in n for n in names)
    assert len(names) == len(bert.bert.encoder.layer[1].weights)

    set_trainable_mode(bert, "full")
    trainable = {w.name for w in bert.trainable_weights}
    everything = {w.name for w in bert.weights if "pooler" not in w.name}
    assert trainable == everything

    set_trainable_mode(bert, "full", train_pooler=True)
    assert len(bert.trainable_weights) == len(bert.weights)


def test_fingerprint_changes_with_weights(tiny_bert_dir, make_tiny_bert, tmp_path):
    other = make_tiny_bert(tmp_path / "other", seed=1)
    assert checkpoint_fingerprint(tiny_bert_dir) == checkpoint_fingerprint(tiny_bert_dir)
    assert checkpoint_fingerprint(tiny_bert_dir) != checkpoint_fingerprint(other)


def test_hub_name_is_downloaded_only_when_online(monkeypatch, tiny_bert_dir):
    import huggingface_hub

    asked = []

    def fake_download(repo_id, allow_patterns=None):
        asked.append((repo_id, allow_patterns))
        return str(tiny_bert_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert resolve_checkpoint("org/some-bert") == tiny_bert_dir
    assert asked[0][0] == "org/some-bert" and "model.safetensors" in asked[0][1]
    with pytest.raises(CheckpointError, match="directory ./missing/ckpt does not exist"):
        resolve_checkpoint("./missing/ckpt")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError, match="offline"):
        resolve_checkpoint("org/some-bert")
    assert len(asked) == 1
