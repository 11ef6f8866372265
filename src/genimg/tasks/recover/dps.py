"""Diffusion posterior sampling (Chung et al. 2022, Alg. 1), the ``dps`` method.

Each ancestral step is followed by a step of size ``scale`` down the gradient, w.r.t. x_t, of
||y - A(x0_hat(x_t))|| (the norm, as the authors' code), where x0_hat is the network's
prediction of the clean image. Works for any differentiable A. The step size defaults to 2 for
noiseless measurements and 0.5 for noisy ones: a strong pull towards a noisy y fits the noise
(on denoising at sigma 0.3, 0.4 gave 16.3 dB, 1.0 gave 15.2 dB; on 2x super-resolution 0.5
gave 14.5 dB, 2.0 gave 17.9 dB; validation split, 100 steps).
"""

from __future__ import annotations

import torch

from genimg.models.base import GenerativeModel
from genimg.tasks.recover.degradations import Degradation
from genimg.tasks.recover.noise import gaussian_noise
from genimg.tasks.recover.options import SolverOptions

NOISELESS_SCALE = 2.0
NOISY_SCALE = 0.5


def diffusion_posterior_sampling(
    model: GenerativeModel,
    degradation: Degradation,
    y: torch.Tensor,
    *,
    steps: int = 100,
    scale: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Chung et al. 2022, Alg. 1: ancestral sampling with a gradient step towards the
    measurement after every reverse step. ``scale`` None: 2.0, or 0.5 for noisy measurements."""
    model.require("denoiser", "dps")
    denoiser = model.denoiser()
    if scale is None:
        scale = NOISY_SCALE if degradation.noise_sigma > 0 else NOISELESS_SCALE
    sampler = denoiser.make_sampler("ddpm", steps=steps)
    device = denoiser.device
    y = y.to(device)
    x = gaussian_noise((y.shape[0], *denoiser.image_shape), generator, device)
    for t in sampler.timesteps.tolist():
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            output, x0 = denoiser.predict(x_in, t)  # conditional models: the null class (labels unknown)
            residual = degradation.operator((x0 + 1) / 2) - y
            distance = residual.flatten(1).norm(dim=1)  # per image; images do not interact in the U-Net
            (gradient,) = torch.autograd.grad(distance.sum(), x_in)
        x = sampler.step(output.detach(), t, x_in.detach(), generator=generator) - scale * gradient
    return ((x + 1) / 2).clamp(0, 1)


def solve_dps(
    model: GenerativeModel,
    degradation: Degradation,
    y: torch.Tensor,
    options: SolverOptions,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One DPS draw with the knobs of ``options``."""
    return diffusion_posterior_sampling(
        model, degradation, y, steps=options.steps or options.dps_steps, scale=options.dps_scale, generator=generator
    )
