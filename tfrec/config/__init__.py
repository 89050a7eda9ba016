"""The typed config of tfrec, loaded from YAML and checked on load."""

from tfrec.config.schema import *  # noqa: F401,F403
from tfrec.config.schema import (  # noqa: F401
    STAGE_NAMES,
    Config,
    ConfigError,
    _check_range,
    _convert,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
    set_dotted,
)
