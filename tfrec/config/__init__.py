"""The typed config of tfrec, loaded from YAML and checked on load.

- `schema`: the dataclasses, one per config section, with the rules of each field (the
  `serving` section in `serving_schema`, `param` in `fields`);
- `values`: checking one value against its field's type and range rules;
- `search_space`: the tuning section's search space (tunable keys, default spaces, checks);
- `loading`: YAML <-> plain mappings <-> `Config` (`load_config`, `save_config`, `--set`).

Example:
    >>> from tfrec.config import load_config
    >>> cfg = load_config("configs/quickstart.yaml", {"retrieval.epochs": 1})
"""

from tfrec.config.loading import (
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
    set_dotted,
)
from tfrec.config.schema import (
    STAGE_NAMES,
    Config,
    ConfigError,
    DataConfig,
    EvaluationConfig,
    ExportConfig,
    IndexConfig,
    Policy,
    RankingConfig,
    RetrievalConfig,
    SearchParam,
    ShopConfig,
    SplitConfig,
    StageName,
    SyntheticConfig,
    TableSource,
    TextConfig,
    TrainingConfig,
    TransactionsCleaning,
    TransactionsSource,
    TuningConfig,
    ValidationPolicies,
    param,
)
from tfrec.config.search_space import (
    check_tuning,
    default_search_space,
    objective_name,
    resolve_search_space,
)
from tfrec.config.serving_schema import BatchingConfig, ServingConfig

__all__ = [
    "BatchingConfig",
    "STAGE_NAMES",
    "Config",
    "ConfigError",
    "DataConfig",
    "EvaluationConfig",
    "ExportConfig",
    "IndexConfig",
    "Policy",
    "RankingConfig",
    "RetrievalConfig",
    "SearchParam",
    "ServingConfig",
    "ShopConfig",
    "SplitConfig",
    "StageName",
    "SyntheticConfig",
    "TableSource",
    "TextConfig",
    "TrainingConfig",
    "TransactionsCleaning",
    "TransactionsSource",
    "TuningConfig",
    "ValidationPolicies",
    "check_tuning",
    "config_from_dict",
    "config_to_dict",
    "default_search_space",
    "load_config",
    "objective_name",
    "param",
    "resolve_search_space",
    "save_config",
    "set_dotted",
]
