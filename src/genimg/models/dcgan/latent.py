"""A GAN's latent space: z decoded by the generator. There is no way back from an image."""

from __future__ import annotations

import torch

from genimg.models.latent_space import LatentSpace


class GeneratorSpace(LatentSpace):
    name = "z"
    per_dimension = True
    differentiable = True

    @property
    def dim(self) -> int:
        return self.model.config.latent_dim

    def decode(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.generate(codes.to(self.device), labels)
