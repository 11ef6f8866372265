"""Checks of a run config that need nothing but the config: training choices that can only fail
at the end of a run (keeping a checkpoint by a score that is never measured) are refused at the
start. The data-dependent checks are in ``genimg.train.validation``.
"""

from __future__ import annotations

from genimg.config.families import get_family
from genimg.config.run_config import RunConfig
from genimg.errors import UserError


def check_choices(config: RunConfig) -> None:
    family = get_family(config.family)
    train = config.train
    if train.select_by == "val_loss" and not family.has_validation_loss:
        raise UserError(
            f"train.select_by=val_loss needs a validation loss, which a {config.family} does not have; "
            "set train.select_by=fid with train.fid_every=K, or train.select_by=last"
        )
    if train.select_by == "fid" and not train.fid_every:
        raise UserError(
            "train.select_by=fid needs FID measured during training; set train.fid_every=K (epochs), "
            "or train.select_by=last"
        )
