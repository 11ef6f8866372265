"""A VAE's latent space: images encode to the mean of q(z|x), codes decode to the mean of p(x|z)."""

from __future__ import annotations

import torch

from genimg.models.latent_space import LatentSpace


class PosteriorMeanSpace(LatentSpace):
    name = "posterior mean z"
    can_encode = True
    per_dimension = True
    differentiable = True

    @property
    def dim(self) -> int:
        return self.model.config.latent_dim

    def encode(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        mu, _ = self.model.encode(images.to(self.device), labels)
        return mu

    def decode(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.decode(codes.to(self.device), labels)
