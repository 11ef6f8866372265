"""How much memory a run's data may take as float32 before it is streamed from disk instead.

``data.max_memory_gb`` sets it; by default it is ``DEFAULT_FRACTION`` of the machine's memory
(the smaller of the physical memory and a container's cgroup limit), shared between a sweep's
parallel runs, each of which holds its own splits (``PARALLEL_RUNS_ENV``, set by the sweep's
workers). Read from ``os.sysconf`` and ``/sys/fs/cgroup``: no dependency.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_FRACTION = 0.25  # the splits, the model, its activations and the OS's page cache share the rest
PARALLEL_RUNS_ENV = "GENIMG_PARALLEL_RUNS"
GB = 10**9  # data.max_memory_gb is in decimal gigabytes, like "9.8 GB as float32"
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")  # v2, v1


def physical_memory_bytes() -> int | None:
    """This machine's memory, or a container's smaller limit; None where neither can be read."""
    try:
        total: int | None = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # no sysconf (Windows), or no such name
        total = None
    for limit_file in _CGROUP_LIMITS:
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and (total is None or int(text) < total):  # "max": no limit
            total = int(text)
    return total


def parallel_runs() -> int:
    try:
        return max(1, int(os.environ.get(PARALLEL_RUNS_ENV, "1")))
    except ValueError:
        return 1


def memory_budget_bytes(max_memory_gb: float | None) -> int | None:
    """The float32 bytes a split may take in memory: the config's, else the default share of
    this machine's memory; None (no limit) when the memory cannot be read."""
    if max_memory_gb is not None:
        return int(max_memory_gb * GB)
    total = physical_memory_bytes()
    return None if total is None else int(total * DEFAULT_FRACTION) // parallel_runs()
