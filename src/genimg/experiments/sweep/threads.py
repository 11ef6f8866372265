"""How the CPU cores are shared between a sweep's parallel runs."""

from __future__ import annotations

import os

from genimg.errors import UserError


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_per_worker(workers: int, cores: int | None = None) -> int:
    """Torch threads for each of ``workers`` parallel runs: the cores split evenly, at least one."""
    if workers < 1:
        raise UserError(f"--parallel must be at least 1, got {workers}")
    return max(1, (cores or available_cores()) // workers)
