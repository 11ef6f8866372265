"""Gaussian noise for the diffusion solvers, drawn where a seed gives the same draws on any device."""

from __future__ import annotations

import torch


def gaussian_noise(
    shape: tuple[int, ...] | torch.Size, generator: torch.Generator | None, device: torch.device | str
) -> torch.Tensor:
    """N(0, I) of ``shape`` on ``device``. Drawn on the CPU, then moved: a CUDA generator's stream
    differs from the CPU's, and a recovery must not change with the device it runs on."""
    return torch.randn(shape, generator=generator).to(device)
