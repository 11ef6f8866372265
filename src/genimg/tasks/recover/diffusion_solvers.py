"""The diffusion solvers: DPS, RePaint and SDEdit, each a reverse chain of a model's ``denoiser()``
pulled towards the measurement, and each with its ``solve_*`` form for the method table.

Their Gaussian draws (``genimg.rng.gaussian_noise``) are made on the generator's device, the CPU
in a recovery, and on the CPU's global stream without a generator, then moved: a CUDA stream
differs from the CPU's, and a recovery must not change with the device it runs on.

**DPS** (Chung et al. 2022, Alg. 1), the ``dps`` method. Each ancestral step is followed by a
step of size ``scale`` down the gradient, w.r.t. x_t, of ||y - A(x0_hat(x_t))|| (the norm, as the
authors' code), where x0_hat is the network's prediction of the clean image. Works for any
differentiable A. The step size defaults to 2 for noiseless measurements and 0.5 for noisy
ones, divided by the operator's ``measurement_scale`` (||A|| for CT's line integrals, 1 for the
others: the gradient of the norm grows with A's gain). A strong pull towards a noisy y fits
the noise (on denoising at sigma 0.3, 0.4 gave 16.3 dB, 1.0 gave 15.2 dB; on 2x super-resolution
0.5 gave 14.5 dB, 2.0 gave 17.9 dB; validation split, 100 steps).

**RePaint** (Lugmayr et al. 2022), the ``repaint`` method: inpainting with an unconditional
diffusion model. After every reverse step the known pixels are replaced by the measurement
noised to the same level, and the chain jumps back ``jump_length`` steps ``resamples - 1`` times
per jump point (their schedule), so that the generated part has time to agree with the known part.

**Data-consistent sampling** (the ``dc`` method, for the scanners' tasks): the approach of Song,
Shen, Xing and Ermon (ICLR 2022) for MRI and CT, in the form of DDNM / DiffPIR (Wang et al. 2023,
Zhu et al. 2023). At each reverse step the network's clean-image estimate x0_hat is made to agree
with the measurement, x0_dc = argmin ||A x - y||^2 + rho_t ||x - x0_hat||^2 (a few conjugate-
gradient steps, ``regularised_least_squares``; rho_t = sigma_y^2 / sigma_t^2, the measurement
noise over the step's, so noiseless measurements are projected onto), and the step to the next
level is taken from x0_dc (DDIM with eta = 1, the DDPM posterior's variance). No gradient
through the network, so a step costs one forward pass, a third of DPS's; the last step's image
agrees with the measurement, so where the measurement pins the image down (2x MRI, 32 CT views)
the answer is the classical one's.

**Final data consistency** (``made_consistent``; DPS and data-consistent sampling). A draw ends
with ``consistency_rounds`` alternations of the least-squares step towards y and clipping to
[0, 1] (``operators.consistent_in_range``): the operator's default, 300 for MRI and CT and none
for the image tasks. On the MNIST sample's validation split (16 images, noiseless) it took DPS
from 36.6 to 43.0 dB at 4x MRI and from 27.7 to 37 dB at 8 CT views.

**SDEdit** (Meng et al. 2022), the ``sdedit`` method and ``--task edit``. Noise the degraded
image (or a user's stroke painting, ``--task edit``) to an intermediate level, then run the
reverse chain. On denoising the level is matched to sigma instead: sqrt(abar) (2y - 1) plus just
enough fresh noise *is* a draw of x_t given the clean image, so the chain from there samples the
posterior of the denoising problem.
"""

from __future__ import annotations

import torch

from genimg.errors import UserError
from genimg.models.base import GenerativeModel
from genimg.rng import gaussian_noise
from genimg.tasks.recover.operators import Degradation, Identity, consistent_in_range, regularised_least_squares
from genimg.tasks.recover.options import SolverOptions

NOISELESS_SCALE = 2.0  # DPS step size for noiseless measurements
NOISY_SCALE = 0.5  # and for noisy ones
DEFAULT_STRENGTH = 0.5  # SDEdit: the noise level, as a fraction of T, unless matched to the noise (denoising)


# ---------------------------------------------------------------------------- DPS


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
    scale = scale / degradation.operator.measurement_scale
    sampler = denoiser.make_sampler("ddpm", steps=steps)
    device = denoiser.device
    y = y.to(device)
    x = gaussian_noise((y.shape[0], *denoiser.image_shape), generator, device, unseeded_device="cpu")
    for t in sampler.timesteps.tolist():
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            output, x0 = denoiser.predict(x_in, t)  # conditional models: the null class (labels unknown)
            residual = degradation.operator((x0 + 1) / 2) - y
            distance = residual.flatten(1).norm(dim=1)  # per image; images do not interact in the U-Net
            (gradient,) = torch.autograd.grad(distance.sum(), x_in)
        x = sampler.step(output.detach(), t, x_in.detach(), generator=generator) - scale * gradient
    return ((x + 1) / 2).clamp(0, 1)


def made_consistent(
    degradation: Degradation, y: torch.Tensor, images: torch.Tensor, options: SolverOptions
) -> torch.Tensor:
    """A draw's images after the final data-consistency rounds (``consistent_in_range``): the
    operator's default number (the scanners' tasks), or ``options.consistency_rounds``."""
    rounds = options.consistency_rounds
    if rounds is None:
        rounds = degradation.operator.consistency_rounds
    if rounds == 0:
        return images
    return consistent_in_range(degradation.operator, y.to(images.device), images, degradation.noise_sigma, rounds)


def solve_dps(
    model: GenerativeModel,
    degradation: Degradation,
    y: torch.Tensor,
    options: SolverOptions,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One DPS draw with the knobs of ``options``, made consistent with y as they say."""
    images = diffusion_posterior_sampling(
        model, degradation, y, steps=options.steps or options.dps_steps, scale=options.dps_scale, generator=generator
    )
    return made_consistent(degradation, y, images, options)


# ---------------------------------------------------------------------------- RePaint


def repaint_schedule(steps: int, jump_length: int, resamples: int) -> list[int]:
    """The chain positions RePaint visits (Lugmayr et al.'s get_schedule_jump): indices into
    the ascending list of timesteps, from steps - 1 down to -1 (the clean image), jumping back
    ``jump_length`` positions ``resamples - 1`` times at every ``jump_length``-th position."""
    jumps = dict.fromkeys(range(0, steps - jump_length, jump_length), resamples - 1)
    position = steps
    path = []
    while position >= 1:
        position -= 1
        path.append(position)
        if jumps.get(position, 0) > 0:
            jumps[position] -= 1
            for _ in range(jump_length):
                position += 1
                path.append(position)
    path.append(-1)
    return path


def repaint(
    model: GenerativeModel,
    degradation: Degradation,
    y: torch.Tensor,
    *,
    steps: int = 50,
    jump_length: int = 5,
    resamples: int = 10,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Lugmayr et al. 2022: inpainting with an unconditional diffusion model."""
    model.require("denoiser", "repaint")
    denoiser = model.denoiser()
    if degradation.mask is None:
        raise UserError("repaint solves inpainting only (--task inpaint); use dps or sdedit for other tasks")
    sampler = denoiser.make_sampler("ddpm", steps=steps)
    device = denoiser.device
    timesteps = sampler.timesteps.flip(0).tolist()  # ascending: position i is timestep timesteps[i]
    keep = degradation.mask.to(device)
    known = degradation.operator.to_image(y.to(device)) * 2 - 1  # in [-1, 1]; zero where unknown (masked out below)
    shape = (y.shape[0], *denoiser.image_shape)
    x = gaussian_noise(shape, generator, device, unseeded_device="cpu")
    path = repaint_schedule(len(timesteps), jump_length, resamples)
    with torch.no_grad():
        for here, there in zip(path[:-1], path[1:]):
            t = timesteps[here]
            if there < here:  # one reverse step, then the known pixels at the new level
                output, _ = denoiser.predict(x, t)
                unknown = sampler.step(output, t, x, generator=generator)
                if there >= 0:
                    abar = denoiser.alpha_bar(timesteps[there], x).view(-1, 1, 1, 1)
                    known_t = abar.sqrt() * known + (1 - abar).sqrt() * gaussian_noise(
                        shape, generator, device, unseeded_device="cpu"
                    )
                else:
                    known_t = known
                x = keep * known_t + (1 - keep) * unknown
            else:  # jump back: noise one step forward, q(x_t' | x_t)
                ratio = (denoiser.alpha_bar(timesteps[there], x) / denoiser.alpha_bar(t, x)).view(-1, 1, 1, 1)
                x = ratio.sqrt() * x + (1 - ratio).sqrt() * gaussian_noise(
                    shape, generator, device, unseeded_device="cpu"
                )
    return ((x + 1) / 2).clamp(0, 1)


def solve_repaint(
    model: GenerativeModel,
    degradation: Degradation,
    y: torch.Tensor,
    options: SolverOptions,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One RePaint draw with the knobs of ``options``."""
    return repaint(
        model,
        degradation,
        y,
        steps=options.steps or options.repaint_steps,
        jump_length=options.jump_length,
        resamples=options.resamples,
        generator=generator,
    )


# ---------------------------------------------------------------------------- data consistency


def data_consistent_sampling(
    model: GenerativeModel,
    degradation: Degradation,
    y: torch.Tensor,
    *,
    steps: int = 50,
    iterations: int = 5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A reverse chain whose clean-image estimate is made consistent with y at every step
    (see the module docstring); ``iterations`` conjugate-gradient steps each time."""
    model.require("denoiser", "dc")
    denoiser = model.denoiser()
    timesteps = denoiser.make_sampler("ddpm", steps=steps).timesteps.tolist()  # descending
    device = denoiser.device
    operator, noise_var = degradation.operator, degradation.noise_sigma**2
    y = y.to(device)
    x = gaussian_noise((y.shape[0], *denoiser.image_shape), generator, device, unseeded_device="cpu")
    with torch.no_grad():
        for i, t in enumerate(timesteps):
            _, x0 = denoiser.predict(x, t)  # conditional models: the null class (labels unknown)
            abar = denoiser.alpha_bar(t, x).view(-1, 1, 1, 1)
            # sigma_t^2 in [0, 1] image units is (1 - abar) / (4 abar)
            rho = (noise_var * 4 * abar / (1 - abar).clamp_min(1e-12)).flatten()
            image = regularised_least_squares(operator, y, ((x0 + 1) / 2).clamp(0, 1), rho, iterations)
            x0 = image.clamp(0, 1) * 2 - 1
            if i == len(timesteps) - 1:
                x = x0
                break
            abar_next = denoiser.alpha_bar(timesteps[i + 1], x).view(-1, 1, 1, 1)
            eps = (x - abar.sqrt() * x0) / (1 - abar).sqrt()
            variance = (1 - abar_next) / (1 - abar) * (1 - abar / abar_next)
            x = (
                abar_next.sqrt() * x0
                + (1 - abar_next - variance).clamp_min(0).sqrt() * eps
                + variance.sqrt() * gaussian_noise(x.shape, generator, device, unseeded_device="cpu")
            )
    return ((x + 1) / 2).clamp(0, 1)


def solve_dc(
    model: GenerativeModel,
    degradation: Degradation,
    y: torch.Tensor,
    options: SolverOptions,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """One data-consistent draw with the knobs of ``options``, ending with the final rounds."""
    images = data_consistent_sampling(
        model,
        degradation,
        y,
        steps=options.steps or options.dc_steps,
        iterations=options.dc_iterations,
        generator=generator,
    )
    return made_consistent(degradation, y, images, options)


# ---------------------------------------------------------------------------- SDEdit


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
    x = abar.sqrt() * x0 + extra * gaussian_noise(x0.shape, generator, device, unseeded_device="cpu")
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
