"""A diffusion model's latent space: x_T under the deterministic DDIM ODE (eta = 0).

``ddim_invert`` encodes, DDIM sampling from the given noise decodes. Predictions are not
clipped either way, so a round trip retraces the same path and returns the image up to the
step-size error. Codes are the flattened C*H*W noise; their coordinates mean nothing one at a time.
"""

from __future__ import annotations

from typing import Any

import torch

from genimg.errors import UserError
from genimg.models.latent_space import LatentSpace


class DDIMNoiseSpace(LatentSpace):
    name = "DDIM-inverted noise x_T"
    can_encode = True

    def __init__(self, model: Any, steps: int = 50) -> None:
        super().__init__(model)
        if steps < 1:
            raise UserError(f"DDIM steps must be at least 1, got {steps}")
        self.steps = steps

    @property
    def dim(self) -> int:
        return self.model.spec.num_pixels

    def encode(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.ddim_invert(images.to(self.device), steps=self.steps, labels=labels).flatten(1)

    def decode(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        noise = codes.to(self.device).reshape(-1, *self.model.spec.image_shape)
        # guidance=1 as in ddim_invert: the decoder must follow the ODE the encoder followed.
        return self.model.sample(
            noise.shape[0],
            labels=labels,
            noise=noise,
            sampler="ddim",
            steps=self.steps,
            eta=0.0,
            clip=False,
            guidance=1.0,
            progress=False,
        )
