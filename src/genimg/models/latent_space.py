"""The latent-space capability: a model's codes as (N, D) tensors, whatever the family.

A family that has codes returns a ``LatentSpace`` from ``model.latent_space()``; the tasks
that look inside models (explore, latent optimisation, the studio) use only this interface.
What a space can do is declared, not guessed:

- ``can_encode``: images -> codes exists (a VAE's encoder, a diffusion model's DDIM inversion).
- ``per_dimension``: each coordinate has an N(0, 1) prior and means something on its own (a
  VAE's or a GAN's z; not the pixels of a diffusion model's x_T), so manifolds, traversals and
  a Gaussian prior penalty make sense.
- ``differentiable``: ``decode`` passes gradients to the codes, cheaply enough to optimise
  through (latent optimisation of inverse problems).
"""

from __future__ import annotations

from typing import Any

import torch

from genimg.errors import UserError


class LatentSpace:
    name = ""  # what a code is, for figure titles
    can_encode = False
    differentiable = False

    def __init__(self, model: Any) -> None:
        self.model = model

    @property
    def per_dimension(self) -> bool:  # a property: a space may decide by its model's config (the VAE's prior)
        return False

    @property
    def dim(self) -> int:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return self.model.device

    @property
    def conditional(self) -> bool:
        return self.model.conditional

    @property
    def family(self) -> str:
        return self.model.family

    def encode(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise UserError(f"this {self.family} has no encoder")

    def decode(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Codes (N, dim) -> images in [0, 1]."""
        raise NotImplementedError

    def reconstruct(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(images, labels), labels)

    def prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n codes drawn from the model's prior N(0, I), reproducible through ``generator``."""
        return torch.randn(n, self.dim, generator=generator).to(self.device)

    def labels_for(self, labels: torch.Tensor | int | None, n: int) -> torch.Tensor | None:
        """Labels to pass to the model: None for an unconditional one (which ignores any given),
        n class indices otherwise (required; checked by the model's ``check_labels``)."""
        return self.model.check_labels(n, labels, missing="refuse", unconditional="ignore")
