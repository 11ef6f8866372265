"""`genimg datasets`: the datasets genimg knows, and where each comes from."""

from __future__ import annotations

import argparse

from genimg.data.registry import available_datasets


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    for info in available_datasets():
        name = f"{info.name}:PATH" if info.scheme else info.name
        print(f"{name:16s} {'offline ' if info.offline else 'download'}  {info.description}")
