"""The VAE's prior p(z): the lecture's standard normal, or a learnable mixture of Gaussians.

A VAE's samples are decoded draws from p(z); where the encoded data (the aggregate posterior)
leaves holes in N(0, I), the decoder has never seen those codes and draws from there come out
blurred or as no digit at all. A mixture of K diagonal Gaussians, learned with the rest of the
model (Tomczak & Welling's VampPrior paper compares such richer priors), fits the aggregate
posterior more closely: better samples, and a tighter likelihood bound.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_2PI = math.log(2 * math.pi)


class StandardNormalPrior(nn.Module):
    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z), summed over the last dimension."""
        return (-0.5 * z.pow(2) - 0.5 * LOG_2PI).sum(-1)

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per image: here in closed form (``z`` is not needed)."""
        return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1)

    def sample(self, n: int, device: torch.device, temperature: float = 1.0) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, device=device) * temperature


class MixturePrior(nn.Module):
    """p(z) = sum_k w_k N(z; m_k, diag(s_k^2)), with m, log s and the weights' logits learned."""

    def __init__(self, latent_dim: int, components: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        # Spread the means out at the start, so the components do not all learn the same thing.
        self.means = nn.Parameter(torch.randn(components, latent_dim))
        self.log_stds = nn.Parameter(torch.zeros(components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(components))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for z of shape (..., latent_dim)."""
        z = z.unsqueeze(-2)  # (..., 1, L) against (K, L)
        per_component = (-0.5 * ((z - self.means) / self.log_stds.exp()).pow(2) - self.log_stds - 0.5 * LOG_2PI).sum(-1)
        return torch.logsumexp(per_component + self.logits.log_softmax(0), dim=-1)

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per image, estimated at the draw ``z`` ~ q(z|x) (no closed form)."""
        log_q = (-0.5 * (z - mu).pow(2) / logvar.exp() - 0.5 * logvar - 0.5 * LOG_2PI).sum(1)
        return log_q - self.log_prob(z)

    def sample(self, n: int, device: torch.device, temperature: float = 1.0) -> torch.Tensor:
        component = torch.multinomial(self.logits.softmax(0), n, replacement=True)
        noise = torch.randn(n, self.latent_dim, device=device) * temperature
        return self.means[component] + self.log_stds[component].exp() * noise


def make_prior(name: str, latent_dim: int, components: int) -> StandardNormalPrior | MixturePrior:
    return StandardNormalPrior(latent_dim) if name == "normal" else MixturePrior(latent_dim, components)
