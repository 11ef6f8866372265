"""A VAE's latent space: images encode to the mean of q(z|x), codes decode to the mean of p(x|z)."""

from __future__ import annotations

import torch

from genimg.models.latent_space import LatentSpace


class PosteriorMeanSpace(LatentSpace):
    name = "posterior mean z"
    can_encode = True
    differentiable = True

    @property
    def per_dimension(self) -> bool:
        """Each coordinate has an N(0, 1) prior only under the standard normal prior."""
        return self.model.config.prior == "normal"

    def prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.model.config.prior == "normal":
            return super().prior(n, generator)
        with torch.random.fork_rng(devices=[]):  # the mixture draws from the global stream: seed it
            torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=generator)))
            return self.model.prior.sample(n, self.device)

    @property
    def dim(self) -> int:
        return self.model.config.latent_dim

    def encode(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        mu, _ = self.model.encode(images.to(self.device), labels)
        return mu

    def decode(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.decode(codes.to(self.device), labels)
