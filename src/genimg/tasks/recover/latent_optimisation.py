"""Latent optimisation (Bora et al. 2017), the ``latent`` method: recovery in a model's latent space.

Minimise ||A(G(z)) - y||^2 + lam ||z||^2 over z with Adam from several random starts (for a
model that can encode, one start is the code of the degraded image) and keep, per image, the
start with the lowest data term. lam defaults to 1e-3, chosen on the validation split: the MAP
value sigma^2 (Gaussian noise of std sigma, prior N(0, I)) pulls too hard towards the mean
digit (15.1 against 15.5 dB on denoising at sigma 0.3), since the decoder's range is already
a strong prior. Works for any model whose ``latent_space()`` is differentiable with a
per-dimension N(0, I) prior (a VAE's or a GAN's z), whatever the family.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from genimg.errors import UserError
from genimg.models.base import GenerativeModel
from genimg.models.latent_space import LatentSpace
from genimg.rng import gaussian_noise
from genimg.tasks.recover.operators import Degradation
from genimg.tasks.recover.options import SolverOptions


@dataclass
class LatentFit:
    images: torch.Tensor  # (N, C, H, W) in [0, 1]: the chosen start's G(z)
    z: torch.Tensor  # (N, latent_dim)
    data_term_init: torch.Tensor  # (N,) ||A(G(z0)) - y||^2 of the chosen start, before optimising
    data_term: torch.Tensor  # (N,) after


def latent_optimisation_refusal(model: GenerativeModel) -> str | None:
    """None if latent optimisation can work in the model's latent space (a decoder that passes
    gradients to codes with an N(0, I) prior on each coordinate), else why not."""
    reason = model.refusal("latent", "latent optimisation")
    if reason is None:
        space = model.latent_space()
        if not (space.differentiable and space.per_dimension):
            reason = (
                f"latent optimisation needs a differentiable decoder from codes with an N(0, I) prior, "
                f"and a {model.family}'s {space.name} is not one"
            )
    return reason


def optimisable_latent(model: GenerativeModel) -> LatentSpace:
    reason = latent_optimisation_refusal(model)
    if reason is not None:
        raise UserError(reason)
    return model.latent_space()


def latent_optimisation(
    model: GenerativeModel,
    degradation: Degradation,
    y: torch.Tensor,
    *,
    steps: int = 300,
    restarts: int = 4,
    lam: float = 1e-3,
    lr: float = 0.05,
    generator: torch.Generator | None = None,
) -> LatentFit:
    """Bora et al. 2017: argmin_z ||A(G(z)) - y||^2 + lam ||z||^2, best of several starts."""
    space = optimisable_latent(model)
    decode = space.decode
    n, latent_dim = y.shape[0], space.dim
    device = model.device
    classes = model.spec.num_classes if model.conditional else 1  # a conditional model tries every label
    # (classes * n,): every label for every image
    class_labels = torch.arange(classes, device=device).repeat_interleave(n) if model.conditional else None
    random_starts = gaussian_noise((restarts, 1, n, latent_dim), generator, device, unseeded_device="cpu")
    starts = [random_starts.expand(restarts, classes, n, latent_dim)]
    if space.can_encode:  # one more start: the code of the degraded image itself (per label)
        observed = degradation.observed_image(y).to(device)
        with torch.no_grad():
            code = space.encode(observed.repeat(classes, 1, 1, 1), class_labels)
        starts.append(code.view(1, classes, n, latent_dim))
    z0 = torch.cat(starts)  # (starts, classes, n, L)
    num_starts = z0.shape[0]
    # Every (start, class, image) candidate is one row of a single batch.
    z = z0.reshape(-1, latent_dim).clone().requires_grad_(True)
    labels = class_labels.repeat(num_starts) if class_labels is not None else None  # i.e. model.conditional
    copies = num_starts * classes
    operator = degradation.operator.take(torch.arange(n).repeat(copies))
    y_all = y.to(device).repeat(copies, *([1] * (y.dim() - 1)))

    def data_term(images: torch.Tensor) -> torch.Tensor:
        return (operator(images) - y_all).flatten(1).pow(2).sum(1)

    with torch.no_grad():
        initial = data_term(decode(z, labels))
    optimiser = torch.optim.Adam([z], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            loss = (data_term(decode(z, labels)) + lam * z.pow(2).sum(1)).sum()
            (z.grad,) = torch.autograd.grad(loss, z)  # gradients for z only, none into the model
            optimiser.step()
    with torch.no_grad():
        images = decode(z, labels)
        final = data_term(images).view(copies, n)
        best = final.argmin(0)  # per image: the candidate that explains the measurement best
        pick = best * n + torch.arange(n, device=device)
        return LatentFit(
            images[pick].clamp(0, 1), z[pick].detach(), initial[pick], final[best, torch.arange(n, device=device)]
        )


def solve_latent(
    model: GenerativeModel,
    degradation: Degradation,
    y: torch.Tensor,
    options: SolverOptions,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """The ``latent`` method with the knobs of ``options``: the recovered images."""
    return latent_optimisation(
        model,
        degradation,
        y,
        steps=options.latent_steps,
        restarts=options.restarts,
        lam=options.lam,
        lr=options.latent_lr,
        generator=generator,
    ).images
