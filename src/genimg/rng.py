"""Random number state: seeded blocks that leave the caller's stream alone, seeded Gaussian noise that
does not depend on the device it is used on, and the full state of every generator a run uses (torch,
CUDA, Python, NumPy, named generators) for exact resumes."""

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


def gaussian_noise(
    shape: tuple[int, ...] | torch.Size,
    generator: torch.Generator | None,
    device: torch.device | str,
    dtype: torch.dtype | None = None,
    *,
    unseeded_device: torch.device | str | None = None,
) -> torch.Tensor:
    """N(0, I) of ``shape`` and ``dtype`` (None: torch's default) on ``device``, drawn where its stream
    lives, then moved. With a generator, on the generator's own device: a CUDA generator's stream
    differs from a CPU one's, so a seed gives the same draws wherever the noise is used. Without
    one, from the global stream of ``unseeded_device`` (None: ``device`` itself)."""
    source = generator.device if generator is not None else (device if unseeded_device is None else unseeded_device)
    return torch.randn(shape, generator=generator, device=source, dtype=dtype).to(device)


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    numpy_state = np.random.get_state(legacy=True)
    assert isinstance(numpy_state, tuple)  # the global stream is a Mersenne Twister, whose legacy state is a tuple
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": _numpy_state_to_plain(numpy_state),
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
