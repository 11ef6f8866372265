"""How a sweep's worker processes share the machine's CPU, and how each one starts.

``threads_per_worker``: the cores split evenly between the parallel runs. ``set_up_worker``: the
first thing a spawned worker process runs: it fixes the thread count and silences
progress bars before torch and tqdm load (they read the environment when they load), tells
the data loaders how many runs share the machine's memory (``data/memory.py``), and ties
its life to the sweep's: on Linux the kernel kills a worker whose parent dies (``prctl``
PR_SET_PDEATHSIG), so a sweep killed outright (SIGKILL, the OOM killer) leaves no orphan still
training a run that ``genimg sweep --resume`` is about to continue.

This module, and the package above it, import no torch, so that a worker that loads it to
run ``set_up_worker`` has not loaded torch yet.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from genimg.errors import UserError

PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>
PARALLEL_RUNS_ENV = "GENIMG_PARALLEL_RUNS"  # data/memory.py's; not imported from there, which would load torch


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


def set_up_worker(threads: int, parent: int | None = None, runs: int = 1) -> None:
    if parent is not None:
        _die_with(parent)
    os.environ[PARALLEL_RUNS_ENV] = str(runs)  # each run holds its own splits: the memory budget is shared
    os.environ["TQDM_DISABLE"] = "1"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch  # deferred on purpose: only now is the environment it reads at load time set

    torch.set_num_threads(threads)


def _die_with(parent: int) -> None:
    if not sys.platform.startswith("linux"):
        return  # elsewhere an orphan finishes its run; its lock keeps a resumed sweep off that run
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
