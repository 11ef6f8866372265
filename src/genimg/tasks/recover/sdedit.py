"""SDEdit (Meng et al. 2022), the ``sdedit`` method and ``--task edit``.

Noise the degraded image (or a user's stroke painting, ``--task edit``) to an intermediate
level, then run the reverse chain. On denoising the level is matched to sigma instead:
sqrt(abar) (2y - 1) plus just enough fresh noise *is* a draw of x_t given the clean image, so
the chain from there samples the posterior of the denoising problem.
"""

from __future__ import annotations

import torch

from genimg.errors import UserError
from genimg.models.base import GenerativeModel
from genimg.tasks.recover.degradations import Degradation, Identity
from genimg.tasks.recover.noise import gaussian_noise
from genimg.tasks.recover.options import SolverOptions

DEFAULT_STRENGTH = 0.5


def sdedit(
    model: GenerativeModel,
    images: torch.Tensor,
    *,
    strength: float | None = DEFAULT_STRENGTH,
    noise_sigma: float = 0.0,
    steps: int = 100,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Meng et al. 2022: noise ``images`` (in [0, 1], possibly outside it when they carry
    Gaussian noise of std ``noise_sigma``) to an intermediate timestep and run the reverse chain.

    ``strength`` in (0, 1] picks the start as a fraction of the T timesteps (more: more
    freedom, less faithfulness). ``strength=None`` starts at the first timestep whose noise
    covers ``noise_sigma``: x_t = sqrt(abar) (2 images - 1) + sqrt(1 - abar (1 + 4 sigma^2)) n
    is then exactly distributed as q(x_t | clean image).
    """
    model.require("denoiser", "sdedit")
    denoiser = model.denoiser()
    sampler = denoiser.make_sampler("ddpm", steps=steps)
    device = denoiser.device
    descending = sampler.timesteps.tolist()
    abars = [float(denoiser.alpha_bar(t, torch.zeros(1, dtype=torch.float64))) for t in descending]
    noise_var = 4 * noise_sigma**2  # the noise in [-1, 1] units
    if strength is None:
        if noise_sigma <= 0:
            raise UserError("sdedit needs --strength when the input carries no noise (e.g. 0.5)")
        covering = [t for t, ab in zip(descending, abars) if 1 - ab * (1 + noise_var) >= 0]
        if not covering:
            raise UserError(f"noise sigma {noise_sigma} exceeds what the model's schedule can absorb")
        start = covering[-1]  # the least noisy timestep that still covers the noise
    else:
        target = strength * denoiser.timesteps - 1
        start = min(descending, key=lambda t: abs(t - target))
    abar = denoiser.alpha_bar(start, images).view(-1, 1, 1, 1).to(device)
    x0 = images.to(device) * 2 - 1
    extra = (1 - abar * (1 + noise_var)).clamp(min=0).sqrt()
    x = abar.sqrt() * x0 + extra * gaussian_noise(x0.shape, generator, device)
    with torch.no_grad():
        for t in descending:
            if t > start:
                continue
            output, _ = denoiser.predict(x, t)
            x = sampler.step(output, t, x, generator=generator)
    return ((x + 1) / 2).clamp(0, 1)


def solve_sdedit(
    model: GenerativeModel,
    degradation: Degradation,
    y: torch.Tensor,
    options: SolverOptions,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One SDEdit draw from the degraded image, with the knobs of ``options``. Without a
    strength, the start is matched to the noise on denoising and is 0.5 otherwise."""
    strength = options.strength
    if strength is None and not (isinstance(degradation.operator, Identity) and degradation.noise_sigma > 0):
        strength = DEFAULT_STRENGTH
    return sdedit(
        model,
        degradation.operator.to_image(y),
        strength=strength,
        noise_sigma=degradation.noise_sigma,
        steps=options.steps or options.sdedit_steps,
        generator=generator,
    )
