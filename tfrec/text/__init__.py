"""The BERT text backbone: checkpoint loading, in-graph tokenizer, pooling, encoder, cache.

Roles are kept apart as in keras-hub: `load_bert` gives the backbone (a `TFBertModel`),
`BertTokenizerLayer` is the preprocessor (runs in `tf.data` and in exported graphs), `Pooling`
is the head, and `TextEncoder` chains the three. `EmbeddingCache` keeps frozen-mode embeddings;
`FrozenLayerCache` keeps the frozen bottom's hidden states for `top_k_layers` training.
Importing `tfrec.text` imports `tfrec` first, which sets TF_USE_LEGACY_KERAS.
"""

from tfrec.text.backbone import (
    CheckpointError,
    checkpoint_fingerprint,
    load_bert,
    resolve_checkpoint,
    set_trainable_mode,
)
from tfrec.text.cache import EmbeddingCache
from tfrec.text.encoder import TextEncoder
from tfrec.text.layer_cache import FrozenLayerCache
from tfrec.text.pooling import Pooling
from tfrec.text.tokenizer import BertTokenizerLayer

__all__ = [
    "BertTokenizerLayer",
    "CheckpointError",
    "EmbeddingCache",
    "FrozenLayerCache",
    "Pooling",
    "TextEncoder",
    "checkpoint_fingerprint",
    "load_bert",
    "resolve_checkpoint",
    "set_trainable_mode",
]
