"""Which model families exist, and what the config layer needs to know about each.

A family declares itself with a ``FamilyInfo``: its name, its config dataclass, a one-line
description, the training defaults it needs (a GAN keeps its checkpoint by FID, a VAE by val
loss), and where its model class lives. The config dataclass and this declaration sit in the
family's own ``config.py``, which imports no torch, so that reading or validating a config
(``genimg train --show-config``, ``genimg sweep`` planning, ``genimg --help``) never pays for
torch. The model class is imported only when a model is built (``FamilyInfo.model_class``).

Built-in families are one static table of module names, imported on first lookup: the config
layer sits below ``models/`` and may not import it, so the table names the modules rather
than importing them (the same way Python's entry points work). A family defined anywhere else,
such as the test-only family in ``tests/``, registers itself with ``register_family``.
"""

from __future__ import annotations

import importlib
import importlib.resources
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from genimg.errors import UserError

# name -> the module whose ``FAMILY`` attribute declares it
BUILTIN_FAMILIES = {
    "vae": "genimg.models.vae.config",
    "dcgan": "genimg.models.dcgan.config",
    "diffusion": "genimg.models.diffusion.config",
}


@dataclass(frozen=True)
class FamilyInfo:
    name: str
    config_cls: type
    description: str
    model: str | Callable[..., Any]  # "package.module:Class", or the class itself
    train_defaults: dict[str, Any] = field(default_factory=dict)
    # check_data(model_config, data_spec) raises a UserError when the config cannot model that data
    check_data: Callable[[Any, Any], None] | None = None
    has_validation_loss: bool = True  # validation_step returns "loss" (train.select_by=val_loss can work)
    # preset name -> {"model": {...}, "train": {...}}: starting values per kind of data (config/presets.py)
    presets: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def model_class(self) -> Callable[..., Any]:
        if not isinstance(self.model, str):
            return self.model
        module, _, name = self.model.partition(":")
        return getattr(importlib.import_module(module), name)


def read_presets(package: str) -> dict[str, dict[str, dict[str, Any]]]:
    """A family's ``presets.yaml`` (beside its config module, in ``package``)."""
    text = importlib.resources.files(package).joinpath("presets.yaml").read_text()
    return {
        name: {section: dict(values or {}) for section, values in (preset or {}).items()}
        for name, preset in (yaml.safe_load(text) or {}).items()
    }


_FAMILIES: dict[str, FamilyInfo] = {}


def register_family(info: FamilyInfo) -> FamilyInfo:
    """Make a family known by name (built-in families are found through ``BUILTIN_FAMILIES``)."""
    _FAMILIES[info.name] = info
    return info


def get_family(name: str) -> FamilyInfo:
    if name not in _FAMILIES and name in BUILTIN_FAMILIES:
        _load_builtin(name)
    if name not in _FAMILIES:
        known = sorted(set(_FAMILIES) | set(BUILTIN_FAMILIES))
        raise UserError(f"unknown model family '{name}'; choose one of {', '.join(known)}")
    return _FAMILIES[name]


def families() -> list[FamilyInfo]:
    """Every known family: the built-in ones first, in their table's order."""
    for name in BUILTIN_FAMILIES:
        get_family(name)
    return [_FAMILIES[n] for n in BUILTIN_FAMILIES] + [f for n, f in _FAMILIES.items() if n not in BUILTIN_FAMILIES]


def _load_builtin(name: str) -> None:
    info = importlib.import_module(BUILTIN_FAMILIES[name]).FAMILY
    register_family(info)
