"""Registry of CLI subcommands that live beside their library modules.

A module either defines ``register_cli(subparsers)`` (and is listed in cli.TASK_MODULES), or
decorates its register function with ``@command``. Either way the function adds a subparser
and sets ``handler`` with ``parser.set_defaults(handler=...)``.
"""
from __future__ import annotations

from typing import Callable

REGISTRY: list[Callable] = []


def command(register: Callable) -> Callable:
    REGISTRY.append(register)
    return register
