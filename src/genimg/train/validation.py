"""Validation before any work: a config that can only fail later is refused now, in one line.

``validate_config`` runs before any data loads, with the data's shape and levels worked out
from the dataset's name (``expected_spec``); ``check_data`` runs again on the loaded data
(the only check a user's own folder or npz gets) before the run directory is created. Either
way a refused run costs nothing and leaves nothing behind.
"""

from __future__ import annotations

from genimg.config.choices import check_choices
from genimg.config.families import get_family
from genimg.config.run_config import RunConfig
from genimg.data.registry import expected_spec
from genimg.data.spec import DataSpec
from genimg.errors import UserError
from genimg.train.tensorboard import require_tensorboard


def validate_config(config: RunConfig) -> None:
    check_choices(config)
    if config.train.logger == "tensorboard":
        require_tensorboard()  # a missing optional extra is refused before the run directory exists
    spec = expected_spec(config.data)  # also refuses an unknown dataset name
    if spec is not None:
        check_data(config, spec)


def check_data(config: RunConfig, spec: DataSpec) -> None:
    """Refuse a model config that cannot work on data of this shape, levels and classes."""
    if getattr(config.model, "conditional", False) and spec.num_classes < 2:
        raise UserError(
            f"conditional=true needs labelled data, and {config.data.dataset} has no classes; "
            "give the images class subfolders (or labels in the npz), or set conditional=false"
        )
    family = get_family(config.family)
    if family.check_data is not None:
        family.check_data(config.model, spec)
