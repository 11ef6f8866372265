"""The denoiser capability: what diffusion-based solvers (DPS, RePaint, SDEdit) need of a model.

A family that denoises returns a ``Denoiser`` from ``model.denoiser()``. Timesteps are indexed
0..T-1 as in diffusers; -1 stands for the clean image (alpha-bar = 1). Images inside the
chain live in [-1, 1]; solvers convert at their edges.

A sampler from ``make_sampler`` walks the chain: ``sampler.timesteps`` lists the timesteps to
visit, largest first, and ``sampler.step(output, t, x_t, generator=None)`` returns the sample at
the next one, given the network output ``predict`` returned at (x_t, t).
"""

from __future__ import annotations

from typing import Any

import torch


class Denoiser:
    @property
    def timesteps(self) -> int:
        """T, the number of training timesteps."""
        raise NotImplementedError

    @property
    def image_shape(self) -> tuple[int, int, int]:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        raise NotImplementedError

    def alpha_bar(self, t: int, like: torch.Tensor) -> torch.Tensor:
        """alpha-bar at timestep t (-1: the clean image) as an (N,) tensor in ``like``'s dtype and device."""
        raise NotImplementedError

    def predict(
        self, x_t: torch.Tensor, t: int, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's output at (x_t, t) and the clean image it implies (in [-1, 1], unclipped).
        Differentiable in x_t. Without labels a conditional model uses its unconditional mode."""
        raise NotImplementedError

    def make_sampler(self, name: str = "ddpm", steps: int | None = None) -> Any:
        """A sampler ("ddpm" or "ddim") over ``steps`` of the T timesteps (see the module docstring)."""
        raise NotImplementedError
