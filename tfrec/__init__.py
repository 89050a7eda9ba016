"""tfrec: e-commerce search and recommendation on TensorFlow.

TensorFlow Recommenders 0.7.x, Keras Tuner and transformers' TF models need Keras 2 (tf-keras),
so `TF_USE_LEGACY_KERAS=1` is set here, before anything imports TensorFlow. Import `tfrec`
before `tensorflow` in scripts; tfrec code writes `import tf_keras as keras`.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
if os.environ["TF_USE_LEGACY_KERAS"] not in ("1", "true", "True"):
    raise ImportError(
        "tfrec needs TF_USE_LEGACY_KERAS=1 (TFRS and Keras Tuner run on tf-keras); "
        f"the environment sets TF_USE_LEGACY_KERAS={os.environ['TF_USE_LEGACY_KERAS']!r}"
    )
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The packaged MiniLM is read from disk; never reach for the hub unless asked.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

from tfrec.config import Config, ConfigError, load_config  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Config", "ConfigError", "load_config", "__version__"]
