"""Registry of CLI subcommands that live beside their library modules.

Each entry is ``register(subparsers)``: it adds a subparser and sets ``handler`` with
``parser.set_defaults(handler=...)``. The handler takes the parsed arguments and calls the
library; it raises UserError for user mistakes.
"""
from __future__ import annotations

from typing import Callable

REGISTRY: list[Callable] = []


def command(register: Callable) -> Callable:
    REGISTRY.append(register)
    return register
