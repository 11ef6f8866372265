"""Typed configs: the run config (family, data, train, model), key=value overrides, the families.

Importing this package does not import torch: a config can be read, validated and printed
before any heavy module loads.
"""

from genimg.config.families import FamilyInfo, families, get_family, register_family
from genimg.config.run_config import (
    DataConfig,
    RunConfig,
    TrainConfig,
    apply_overrides,
    config_for,
    config_from_dict,
    default_config,
    load_config,
    parse_overrides,
    resolve_key,
)

__all__ = [
    "DataConfig",
    "FamilyInfo",
    "RunConfig",
    "TrainConfig",
    "apply_overrides",
    "config_for",
    "config_from_dict",
    "default_config",
    "families",
    "get_family",
    "load_config",
    "parse_overrides",
    "register_family",
    "resolve_key",
]
