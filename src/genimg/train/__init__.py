"""Training: typed configs, the one loop, checkpoints, distributed setup."""
from genimg.train.config import (
    DataConfig,
    RunConfig,
    TrainConfig,
    apply_overrides,
    default_config,
    load_config,
)
from genimg.train.trainer import TrainResult, load_model, resume_config, train

__all__ = [
    "DataConfig",
    "RunConfig",
    "TrainConfig",
    "TrainResult",
    "apply_overrides",
    "default_config",
    "load_config",
    "load_model",
    "resume_config",
    "train",
]
