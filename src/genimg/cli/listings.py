"""The listing verbs: `genimg runs [DIR]` (run directories and their state), `genimg datasets`
and `genimg models` (what genimg knows). Each verb is an ``add_<verb>_arguments`` function
(``VERBS`` in ``cli/__init__.py`` names it) and the handler it sets.
"""

from __future__ import annotations

import argparse

from genimg.config.families import families
from genimg.config.presets import datasets_of
from genimg.config.run_config import default_config
from genimg.data.registry import available_datasets
from genimg.io import dumps
from genimg.runs.listing import describe_run, find_runs
from genimg.runs.pretrained_copy import resolve_run_path


def add_runs_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", default="runs", help="folder holding run directories (default: runs)")
    p.add_argument("--json", action="store_true", help="one JSON object per run, one a line")
    p.set_defaults(handler=list_runs)


def list_runs(args: argparse.Namespace) -> None:
    """`genimg runs [DIR]`: the run directories under DIR with their status, epochs, kept checkpoint
    and headline numbers, and what to do with the ones a crash or Ctrl-C left."""
    root = resolve_run_path(args.dir)  # pretrained:NAME lists that shipped model's copy
    rows = [describe_run(path) for path in find_runs(root)]
    if args.json:
        for row in rows:
            print(dumps(row.to_dict()))
        return
    if not rows:
        print(f"no run directories under {root}")
        return
    table = [("run", "family", "dataset", "status", "epochs", "kept", "numbers")]
    for row in rows:
        name = str(row.path.relative_to(root)) if row.path != root else str(row.path)
        epochs = f"{row.epochs if row.epochs is not None else '?'}/{row.total_epochs or '?'}"
        numbers = "  ".join(f"{k} {v:.4g}" for k, v in row.metrics.items())
        table.append((name, row.family, row.dataset, row.status, epochs, row.kept, numbers))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]) - 1)]
    for i, cells in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths)) + "  " + cells[-1])
        note = rows[i - 1].note if i else ""
        if note:
            print(f"    {note}")


def add_datasets_arguments(p: argparse.ArgumentParser) -> None:
    p.set_defaults(handler=list_datasets)


def list_datasets(args: argparse.Namespace) -> None:
    """`genimg datasets`: the datasets genimg knows, and where each comes from."""
    for info in available_datasets():
        name = f"{info.name}:PATH" if info.scheme else info.name
        print(f"{name:16s} {'offline ' if info.offline else 'download'}  {info.description}")


def add_models_arguments(p: argparse.ArgumentParser) -> None:
    p.set_defaults(handler=list_models)


def list_models(args: argparse.Namespace) -> None:
    """`genimg models`: the model families and their config keys."""
    for family in families():
        print(f"{family.name}: {family.description}")
        keys = [k.split(".", 1)[1] for k in default_config(family.name).valid_keys() if k.startswith("model.")]
        print("  keys: " + ", ".join(keys))
        for preset, values in family.presets.items():
            changed = [f"{k}={v}" for section in ("model", "train") for k, v in values.get(section, {}).items()]
            datasets = ", ".join(datasets_of(preset)) or "-"
            print(f"  preset {preset} ({datasets}): " + (" ".join(changed) if changed else "the defaults"))
