"""`genimg models`: the model families and their config keys."""

from __future__ import annotations

import argparse

from genimg.config.families import families
from genimg.config.presets import datasets_of
from genimg.config.run_config import default_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    for family in families():
        print(f"{family.name}: {family.description}")
        keys = [k.split(".", 1)[1] for k in default_config(family.name).valid_keys() if k.startswith("model.")]
        print("  keys: " + ", ".join(keys))
        for preset, values in family.presets.items():
            changed = [f"{k}={v}" for section in ("model", "train") for k, v in values.get(section, {}).items()]
            datasets = ", ".join(datasets_of(preset)) or "-"
            print(f"  preset {preset} ({datasets}): " + (" ".join(changed) if changed else "the defaults"))
