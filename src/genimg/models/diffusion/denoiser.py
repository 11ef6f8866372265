"""A diffusion model seen as a ``Denoiser`` (genimg.models.denoiser): what DPS, RePaint and
SDEdit use, with the raw network output (no x0 snapping: the solvers differentiate through it)."""

from __future__ import annotations

from typing import Any

import torch

from genimg.models.denoiser import Denoiser
from genimg.models.diffusion.schedules import x0_and_eps


class ScheduleDenoiser(Denoiser):
    def __init__(self, model: Any) -> None:
        self.model = model

    @property
    def timesteps(self) -> int:
        return self.model.schedule.timesteps

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.model.spec.image_shape

    @property
    def device(self) -> torch.device:
        return self.model.device

    def alpha_bar(self, t: int, like: torch.Tensor) -> torch.Tensor:
        return self.model.schedule.alpha_bar(torch.tensor(int(t))).to(like.device, like.dtype).expand(like.shape[0])

    def predict(
        self, x_t: torch.Tensor, t: int, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        output = self.model.model_output(x_t, t, labels)
        x0, _ = x0_and_eps(self.model.prediction, output, x_t, self.alpha_bar(t, x_t))
        return output, x0

    def make_sampler(self, name: str = "ddpm", steps: int | None = None) -> Any:
        return self.model.make_sampler(name, steps=steps)
