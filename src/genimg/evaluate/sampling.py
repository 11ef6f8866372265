"""Seeded, batched sampling under inference mode: the samples every score is computed on."""

from __future__ import annotations

from typing import Any

import torch

from genimg.models.base import GenerativeModel
from genimg.rng import fixed_seed


def sample_images(
    model: GenerativeModel, n: int, seed: int | None = None, batch_size: int = 500, **options: Any
) -> torch.Tensor:
    """n samples as float32 CPU tensors, drawn in batches. With ``seed``, from that fixed seed and
    without disturbing the caller's RNG stream; without, from the current stream."""

    def draw() -> torch.Tensor:
        with torch.inference_mode():
            return torch.cat(
                [
                    model.sample(min(batch_size, n - start), progress=False, **options).float().cpu()
                    for start in range(0, n, batch_size)
                ]
            )

    if seed is None:
        return draw()
    with fixed_seed(seed):
        return draw()
