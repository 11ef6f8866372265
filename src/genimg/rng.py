"""Random number state: seeded blocks that leave the caller's stream alone, and the full state of
every generator a run uses (torch, CUDA, Python, NumPy, named generators) for exact resumes."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch


@contextlib.contextmanager
def fixed_seed(seed: int) -> Iterator[None]:
    """Run a block with a fixed seed without disturbing the surrounding RNG stream."""
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": _numpy_state_to_plain(np.random.get_state()),
        "generators": {k: g.get_state() for k, g in generators.items()},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_to_tuple(state["python"]))
    np.random.set_state(_numpy_state_from_plain(state["numpy"]))
    for k, g in generators.items():
        g.set_state(state["generators"][k])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _numpy_state_to_plain(s: tuple) -> list:
    return [s[0], torch.from_numpy(s[1].astype(np.int64)), int(s[2]), int(s[3]), float(s[4])]


def _numpy_state_from_plain(s: list) -> tuple:
    return (s[0], s[1].numpy().astype(np.uint32), s[2], s[3], s[4])


def _to_tuple(x: Any) -> Any:
    return tuple(_to_tuple(i) for i in x) if isinstance(x, (list, tuple)) else x
