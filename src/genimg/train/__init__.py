"""Training: the one loop every family uses, its EMA and its distributed setup.

The config functions and ``load_model`` are re-exported here because a training script needs
them together (``from genimg.train import default_config, apply_overrides, train, load_model``).
"""

from genimg.config.run_config import DataConfig, RunConfig, TrainConfig, apply_overrides, default_config, load_config
from genimg.runs.loading import load_model, resume_config
from genimg.train.trainer import TrainResult, train

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
