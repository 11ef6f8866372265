"""The first thing a spawned worker process runs: it fixes the thread count and silences
progress bars before torch and tqdm load (they read the environment when they load).

This module, and the package above it, import no torch, so that a worker that loads it to
run ``set_up_worker`` has not loaded torch yet.
"""

from __future__ import annotations

import os


def set_up_worker(threads: int) -> None:
    os.environ["TQDM_DISABLE"] = "1"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["MKL_NUM_THREADS"] = str(threads)
    import torch  # deferred on purpose: only now is the environment it reads at load time set

    torch.set_num_threads(threads)
