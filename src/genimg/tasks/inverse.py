"""Recovering damaged images with a trained generative model as the prior.

Original O -> degraded N = A(O) + noise -> recovered R, for denoising, inpainting,
super-resolution, deblurring and colorization (operators in ``degradations.py``), with:

- ``latent`` (VAE, DCGAN): latent optimisation, Bora et al. 2017. Minimise
  ||A(G(z)) - y||^2 + lam ||z||^2 over z with Adam from several random starts (for a VAE one
  start is the encoder's mean for the degraded image) and keep, per image, the start with the
  lowest data term. lam defaults to 1e-3, chosen on the validation split: the MAP value
  sigma^2 (Gaussian noise of std sigma, prior N(0, I)) pulls too hard towards the mean digit
  (15.1 against 15.5 dB on denoising at sigma 0.3), since the decoder's range is already a
  strong prior.
- ``dps`` (diffusion): diffusion posterior sampling, Chung et al. 2022 (Alg. 1). Each
  ancestral step is followed by a step of size ``dps_scale`` down the gradient, w.r.t. x_t,
  of ||y - A(x0_hat(x_t))|| (the norm, as the authors' code), where x0_hat is the network's
  prediction of the clean image. Works for any differentiable A. The step size defaults to
  2 for noiseless measurements and 0.5 for noisy ones: a strong pull towards a noisy y
  fits the noise (on denoising at sigma 0.3, 0.4 gave 16.3 dB, 1.0 gave 15.2 dB; on 2x
  super-resolution 0.5 gave 14.5 dB, 2.0 gave 17.9 dB; validation split, 100 steps).
- ``repaint`` (diffusion, inpainting): Lugmayr et al. 2022. After every reverse step the
  known pixels are replaced by the measurement noised to the same level, and the chain jumps
  back ``jump_length`` steps ``resamples - 1`` times per jump point (their schedule), so the
  generated part has time to agree with the known part.
- ``sdedit`` (diffusion): Meng et al. 2022. Noise the degraded image (or a user's stroke
  painting, ``--task edit``) to an intermediate level, then run the reverse chain. On
  denoising the level is matched to sigma instead: sqrt(abar) (2y - 1) plus just enough
  fresh noise *is* a draw of x_t given the clean image, so the chain from there samples the
  posterior of the denoising problem.

Diffusion methods draw posterior *samples*; ``posterior_samples = K`` averages K of them,
an estimate of the posterior mean (the minimum-MSE answer; one sample has about twice its
error on the pixels the measurement leaves open).

Classical baselines beside them: ``identity`` (the degraded image itself), ``bicubic``
(super-resolution), ``tv`` and ``nlm`` (denoising, scikit-image's Chambolle total variation
and non-local means, given the known sigma), ``biharmonic`` (inpainting, scikit-image) and
``richardson-lucy`` (deblurring with the known kernel, scikit-image). Their parameters
were tuned on the validation split as well, so that they are fair opponents: TV weight
sigma / 3, non-local means h = sigma / 2 with 3x3 patches and a 7x7 search window on 8x8
images, 5 Richardson-Lucy iterations (more amplify the noise of such small images).

``run_recovery`` takes a run directory, degrades the first n images of a split, runs the
methods and writes RUN/recover/<task>/figure.png (one row per image: O | N | R per method),
metrics.json and metrics.csv (MSE, RMSE, PSNR, SSIM as mean +- std over images, N vs O and
R vs O). ``genimg recover`` is its command line. Everything is deterministic given the seed.
"""
from __future__ import annotations

import csv
import io
import math
import time
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from genimg.data.splits import load_split
from genimg.errors import UserError
from genimg.evaluate.metrics.recovery_metrics import RecoveryMetrics
from genimg.images import save_png
from genimg.io import write_json, write_text
from genimg.models.latent_space import LatentSpace
from genimg.runs.directory import RunDir
from genimg.runs.loading import load_model
from genimg.tasks.degradations import (
    AveragePool,
    Degradation,
    GaussianBlur,
    Greyscale,
    Identity,
    Mask,
    check_rate,
    make_mask,
)

TASKS = ("denoise", "inpaint", "superres", "deblur", "colorize")
EDIT_TASK = "edit"
METRIC_NAMES = ("mse", "rmse", "psnr", "ssim")
DEFAULT_DENOISE_SIGMA = 0.3


# ---------------------------------------------------------------------------- the task


@dataclass
class TaskSpec:
    """What damage to do. Fields left None take the task's default; setting one the task does
    not use is an error (it would silently do nothing)."""

    task: str
    sigma: float | None = None  # noise std in [0, 1] units: 0.3 for denoise, 0 (none) otherwise
    mask: str | None = None  # inpaint: random (default), box, half, or a PNG path
    rate: float | None = None  # inpaint with a random mask: fraction of pixels removed (0.5)
    factor: int | None = None  # superres: average-pooling factor (2)
    blur_sigma: float | None = None  # deblur: std of the Gaussian kernel in pixels (1.0)

    def resolved(self) -> "TaskSpec":
        if self.task not in TASKS:
            raise UserError(f"unknown task '{self.task}'; choose one of {', '.join(TASKS + (EDIT_TASK,))}")
        uses = {"mask": "inpaint", "rate": "inpaint", "factor": "superres", "blur_sigma": "deblur"}
        for name, task in uses.items():
            if getattr(self, name) is not None and self.task != task:
                raise UserError(f"--{name.replace('_', '-')} applies to --task {task}, not --task {self.task}")
        sigma = self.sigma if self.sigma is not None else (DEFAULT_DENOISE_SIGMA if self.task == "denoise" else 0.0)
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma >= 0):
            raise UserError(f"--sigma is a noise standard deviation in [0, 1] units and must be >= 0, got {sigma}")
        if self.task == "denoise" and sigma == 0:
            raise UserError("denoising needs noise: pass --sigma > 0 (e.g. 0.3)")
        mask = (self.mask or "random") if self.task == "inpaint" else None
        rate = self.rate
        if self.task == "inpaint" and mask == "random":
            rate = check_rate(0.5 if rate is None else rate)
        factor = self.factor if self.factor is not None else (2 if self.task == "superres" else None)
        if factor is not None and (not isinstance(factor, int) or factor < 2):
            raise UserError(f"--factor must be an integer >= 2, got {factor}")
        blur = self.blur_sigma if self.blur_sigma is not None else (1.0 if self.task == "deblur" else None)
        if blur is not None and not blur > 0:
            raise UserError(f"--blur-sigma must be positive, got {blur}")
        return TaskSpec(self.task, float(sigma), mask, rate, factor, blur)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def make_degradation(spec: TaskSpec, image_shape: tuple[int, int, int], n: int,
                     generator: torch.Generator | None = None) -> Degradation:
    """The degradation of a (resolved) task for n images of shape (C, H, W)."""
    spec = spec.resolved()
    channels, height, width = image_shape
    if spec.task == "denoise":
        operator = Identity()
    elif spec.task == "inpaint":
        operator = Mask(make_mask(spec.mask, n, height, width, spec.rate, generator))
    elif spec.task == "superres":
        if height % spec.factor or width % spec.factor:
            raise UserError(f"--factor {spec.factor} does not divide the image size {height}x{width}; pick a divisor (2 for 8x8 digits)")
        operator = AveragePool(spec.factor)
    elif spec.task == "deblur":
        operator = GaussianBlur(spec.blur_sigma)
    else:  # colorize
        if channels != 3:
            raise UserError(
                f"colorize needs a model of RGB images; this one makes {channels}-channel images; "
                f"choose one of {', '.join(t for t in TASKS if t != 'colorize')} or train on an RGB dataset (e.g. cifar10)"
            )
        operator = Greyscale()
    return Degradation(operator, spec.sigma)


# ---------------------------------------------------------------------------- options


@dataclass
class SolverOptions:
    """Knobs of the methods. Defaults were chosen on the digits validation split with the
    default VAE and diffusion models, never on the test split."""

    # latent optimisation
    latent_steps: int = 300
    restarts: int = 4  # random starts (a VAE adds the encoder's start)
    lam: float = 1e-3  # prior weight
    latent_lr: float = 0.05
    # diffusion
    steps: int | None = None  # reverse-chain length; None: each method's default below
    dps_steps: int = 100
    dps_scale: float | None = None  # None: 2.0 for noiseless measurements, 0.5 for noisy ones
    repaint_steps: int = 50
    jump_length: int = 5
    resamples: int = 10
    sdedit_steps: int = 100
    strength: float | None = None  # sdedit: noise level as a fraction of T; None: matched (denoise) or 0.5
    posterior_samples: int = 1  # diffusion: average this many samples
    # classical
    tv_weight: float | None = None  # None: sigma / 3
    nlm_h: float | None = None  # None: sigma / 2
    rl_iterations: int = 5

    def __post_init__(self) -> None:
        for name in ("latent_steps", "restarts", "posterior_samples", "dps_steps", "repaint_steps", "sdedit_steps",
                     "jump_length", "resamples", "rl_iterations"):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.steps is not None and self.steps < 1:
            raise UserError(f"--steps must be at least 1, got {self.steps}")
        if self.strength is not None and not 0 < self.strength <= 1:
            raise UserError(f"--strength is the fraction of the noise schedule to go back and must lie in (0, 1], got {self.strength}")
        if self.lam < 0:
            raise UserError(f"--lam must be >= 0, got {self.lam}")


# ---------------------------------------------------------------------------- latent optimisation


@dataclass
class LatentFit:
    images: torch.Tensor  # (N, C, H, W) in [0, 1]: the chosen start's G(z)
    z: torch.Tensor  # (N, latent_dim)
    data_term_init: torch.Tensor  # (N,) ||A(G(z0)) - y||^2 of the chosen start, before optimising
    data_term: torch.Tensor  # (N,) after


def latent_optimisation_refusal(model) -> str | None:
    """None if latent optimisation can work in the model's latent space (a decoder that passes
    gradients to codes with an N(0, I) prior on each coordinate), else why not."""
    reason = model.refusal("latent", "latent optimisation")
    if reason is None:
        space = model.latent_space()
        if not (space.differentiable and space.per_dimension):
            reason = (f"latent optimisation needs a differentiable decoder from codes with an N(0, I) prior, "
                      f"and a {model.family}'s {space.name} is not one")
    return reason


def optimisable_latent(model) -> LatentSpace:
    reason = latent_optimisation_refusal(model)
    if reason is not None:
        raise UserError(reason)
    return model.latent_space()


def latent_optimisation(model, degradation: Degradation, y: torch.Tensor, *, steps: int = 300, restarts: int = 4,
                        lam: float = 1e-3, lr: float = 0.05, generator: torch.Generator | None = None) -> LatentFit:
    """Bora et al. 2017: argmin_z ||A(G(z)) - y||^2 + lam ||z||^2, best of several starts."""
    space = optimisable_latent(model)
    decode = space.decode
    n, latent_dim = y.shape[0], space.dim
    device = model.device
    classes = model.spec.num_classes if model.conditional else 1  # a conditional model tries every label
    class_labels = torch.arange(classes, device=device).repeat_interleave(n) if model.conditional else None  # (classes * n,)
    random_starts = torch.randn(restarts, 1, n, latent_dim, generator=generator).to(device)
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
    labels = class_labels.repeat(num_starts) if model.conditional else None
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
        return LatentFit(images[pick].clamp(0, 1), z[pick].detach(), initial[pick], final[best, torch.arange(n, device=device)])


# ---------------------------------------------------------------------------- diffusion solvers


def _noise(shape, generator: torch.Generator | None, device) -> torch.Tensor:
    return torch.randn(shape, generator=generator).to(device)


def diffusion_posterior_sampling(model, degradation: Degradation, y: torch.Tensor, *, steps: int = 100,
                                 scale: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Chung et al. 2022, Alg. 1: ancestral sampling with a gradient step towards the
    measurement after every reverse step. ``scale`` None: 2.0, or 0.5 for noisy measurements."""
    model.require("denoiser", "dps")
    denoiser = model.denoiser()
    if scale is None:
        scale = 0.5 if degradation.noise_sigma > 0 else 2.0
    sampler = denoiser.make_sampler("ddpm", steps=steps)
    device = denoiser.device
    y = y.to(device)
    x = _noise((y.shape[0], *denoiser.image_shape), generator, device)
    for t in sampler.timesteps.tolist():
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            output, x0 = denoiser.predict(x_in, t)  # conditional models: the null class (labels unknown)
            residual = degradation.operator((x0 + 1) / 2) - y
            distance = residual.flatten(1).norm(dim=1)  # per image; images do not interact in the U-Net
            (gradient,) = torch.autograd.grad(distance.sum(), x_in)
        x = sampler.step(output.detach(), t, x_in.detach(), generator=generator) - scale * gradient
    return ((x + 1) / 2).clamp(0, 1)


def repaint_schedule(steps: int, jump_length: int, resamples: int) -> list[int]:
    """The chain positions RePaint visits (Lugmayr et al.'s get_schedule_jump): indices into
    the ascending list of timesteps, from steps - 1 down to -1 (the clean image), jumping back
    ``jump_length`` positions ``resamples - 1`` times at every ``jump_length``-th position."""
    jumps = {j: resamples - 1 for j in range(0, steps - jump_length, jump_length)}
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


def repaint(model, degradation: Degradation, y: torch.Tensor, *, steps: int = 50, jump_length: int = 5,
            resamples: int = 10, generator: torch.Generator | None = None) -> torch.Tensor:
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
    x = _noise(shape, generator, device)
    path = repaint_schedule(len(timesteps), jump_length, resamples)
    with torch.no_grad():
        for here, there in zip(path[:-1], path[1:]):
            t = timesteps[here]
            if there < here:  # one reverse step, then the known pixels at the new level
                output, _ = denoiser.predict(x, t)
                unknown = sampler.step(output, t, x, generator=generator)
                if there >= 0:
                    abar = denoiser.alpha_bar(timesteps[there], x).view(-1, 1, 1, 1)
                    known_t = abar.sqrt() * known + (1 - abar).sqrt() * _noise(shape, generator, device)
                else:
                    known_t = known
                x = keep * known_t + (1 - keep) * unknown
            else:  # jump back: noise one step forward, q(x_t' | x_t)
                ratio = (denoiser.alpha_bar(timesteps[there], x) / denoiser.alpha_bar(t, x)).view(-1, 1, 1, 1)
                x = ratio.sqrt() * x + (1 - ratio).sqrt() * _noise(shape, generator, device)
    return ((x + 1) / 2).clamp(0, 1)


def sdedit(model, images: torch.Tensor, *, strength: float | None = 0.5, noise_sigma: float = 0.0, steps: int = 100,
           generator: torch.Generator | None = None) -> torch.Tensor:
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
    x = abar.sqrt() * x0 + extra * _noise(x0.shape, generator, device)
    with torch.no_grad():
        for t in descending:
            if t > start:
                continue
            output, _ = denoiser.predict(x, t)
            x = sampler.step(output, t, x, generator=generator)
    return ((x + 1) / 2).clamp(0, 1)


# ---------------------------------------------------------------------------- classical baselines


def _skimage_restoration():
    try:
        from skimage import restoration
    except ImportError:
        raise UserError("the classical baselines (tv, nlm, biharmonic, richardson-lucy) need scikit-image: "
                        "pip install scikit-image, or pick other methods with --method") from None
    return restoration


def _per_image(images: torch.Tensor, function: Callable[[np.ndarray, int | None], np.ndarray]) -> torch.Tensor:
    """Apply a NumPy function to each (H, W) or (H, W, 3) image; channel_axis is passed along."""
    channels = images.shape[1]
    out = []
    for image in images.detach().cpu().double().numpy():
        array = image[0] if channels == 1 else image.transpose(1, 2, 0)
        result = function(array, None if channels == 1 else -1)
        out.append(result[None] if channels == 1 else result.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(out)).float().clamp(0, 1)


def baseline_identity(degradation: Degradation, y: torch.Tensor, options: SolverOptions) -> torch.Tensor:
    return degradation.observed_image(y)


def baseline_bicubic(degradation: Degradation, y: torch.Tensor, options: SolverOptions) -> torch.Tensor:
    return F.interpolate(y, scale_factor=degradation.operator.factor, mode="bicubic", align_corners=False).clamp(0, 1)


def baseline_tv(degradation: Degradation, y: torch.Tensor, options: SolverOptions) -> torch.Tensor:
    restoration = _skimage_restoration()
    weight = options.tv_weight if options.tv_weight is not None else degradation.noise_sigma / 3
    return _per_image(y, lambda a, axis: restoration.denoise_tv_chambolle(a, weight=weight, channel_axis=axis))


def baseline_nlm(degradation: Degradation, y: torch.Tensor, options: SolverOptions) -> torch.Tensor:
    restoration = _skimage_restoration()
    sigma = degradation.noise_sigma
    h = options.nlm_h if options.nlm_h is not None else sigma / 2
    size = min(y.shape[-2:])
    # Patches and search window scaled to the image: 3x3 patches, 7x7 search on 8x8 digits.
    patch, distance = (3, 3) if size <= 16 else (5, 6)
    return _per_image(y, lambda a, axis: restoration.denoise_nl_means(
        a, patch_size=patch, patch_distance=distance, h=h, sigma=sigma, fast_mode=True, channel_axis=axis))


def baseline_biharmonic(degradation: Degradation, y: torch.Tensor, options: SolverOptions) -> torch.Tensor:
    restoration = _skimage_restoration()
    missing = (degradation.mask < 0.5).expand(y.shape[0], 1, *y.shape[-2:]).cpu().numpy()[:, 0]
    observed = degradation.observed_image(y)
    out = []
    for i, image in enumerate(observed.double().numpy()):
        array = image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)
        result = restoration.inpaint_biharmonic(array, missing[i], channel_axis=None if image.shape[0] == 1 else -1)
        out.append(result[None] if image.shape[0] == 1 else result.transpose(2, 0, 1))
    return torch.from_numpy(np.stack(out)).float().clamp(0, 1)


def baseline_richardson_lucy(degradation: Degradation, y: torch.Tensor, options: SolverOptions) -> torch.Tensor:
    restoration = _skimage_restoration()
    psf = degradation.operator.kernel_2d.astype(np.float64)

    def deconvolve(array: np.ndarray, axis: int | None) -> np.ndarray:
        array = np.clip(array, 0, 1)
        if axis is None:
            return restoration.richardson_lucy(array, psf, num_iter=options.rl_iterations)
        return np.stack([restoration.richardson_lucy(array[..., c], psf, num_iter=options.rl_iterations)
                         for c in range(array.shape[-1])], axis=-1)

    return _per_image(y, deconvolve)


# ---------------------------------------------------------------------------- the method table


def _denoiser_refusal(name: str) -> Callable[[Any], str | None]:
    return lambda model: model.refusal("denoiser", name)


@dataclass(frozen=True)
class Method:
    name: str
    kind: str  # "classical" or "generative"
    tasks: tuple[str, ...]  # tasks it solves
    description: str
    # For a generative method: model -> None if the model can run it, else why not (by capability).
    refusal: Callable[[Any], str | None] | None = None


METHODS: dict[str, Method] = {m.name: m for m in [
    Method("identity", "classical", TASKS, "the degraded image itself"),
    Method("bicubic", "classical", ("superres",), "bicubic upsampling"),
    Method("tv", "classical", ("denoise",), "total-variation denoising (Chambolle)"),
    Method("nlm", "classical", ("denoise",), "non-local means with the known sigma"),
    Method("biharmonic", "classical", ("inpaint",), "biharmonic inpainting"),
    Method("richardson-lucy", "classical", ("deblur",), "Richardson-Lucy deconvolution with the known kernel"),
    Method("latent", "generative", TASKS, "latent optimisation (Bora et al. 2017)", latent_optimisation_refusal),
    Method("dps", "generative", TASKS, "diffusion posterior sampling (Chung et al. 2022)", _denoiser_refusal("dps")),
    Method("repaint", "generative", ("inpaint",), "RePaint (Lugmayr et al. 2022)", _denoiser_refusal("repaint")),
    Method("sdedit", "generative", TASKS, "SDEdit (Meng et al. 2022)", _denoiser_refusal("sdedit")),
]}


def method_refusal(method: Method, model) -> str | None:
    """None if ``model`` (None: no model) can run ``method``, else why not."""
    if method.refusal is None:
        return None
    if model is None:
        return f"{method.name} needs a trained model, and none was given"
    return method.refusal(model)


def available_methods(task: str, model) -> list[str]:
    return [m.name for m in METHODS.values() if task in m.tasks and method_refusal(m, model) is None]


def resolve_methods(names: list[str] | None, task: str, model) -> list[str]:
    """The methods to run: all that serve this task and model, or the named ones, checked."""
    valid = available_methods(task, model)
    if not names or names == ["all"]:
        return valid
    for name in names:
        if name not in METHODS:
            raise UserError(f"unknown method '{name}'; choose from {', '.join(valid)} (for --task {task})")
        method = METHODS[name]
        reason = method_refusal(method, model)
        if reason is not None:
            raise UserError(f"{reason}; for --task {task} choose from {', '.join(valid)}")
        if task not in method.tasks:
            raise UserError(f"method '{name}' does not solve --task {task}; choose from {', '.join(valid)}")
    return list(dict.fromkeys(names))


def _method_seed(seed: int, name: str) -> int:
    """A seed per method, so adding or removing a method leaves the others' draws unchanged."""
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**63)


def solve(name: str, model, degradation: Degradation, y: torch.Tensor, options: SolverOptions,
          generator: torch.Generator | None = None) -> torch.Tensor:
    """Run one method on measurements ``y``; returns images in [0, 1] on the CPU."""
    if name == "identity":
        return baseline_identity(degradation, y, options)
    if name == "bicubic":
        return baseline_bicubic(degradation, y, options)
    if name == "tv":
        return baseline_tv(degradation, y, options)
    if name == "nlm":
        return baseline_nlm(degradation, y, options)
    if name == "biharmonic":
        return baseline_biharmonic(degradation, y, options)
    if name == "richardson-lucy":
        return baseline_richardson_lucy(degradation, y, options)
    if name == "latent":
        return latent_optimisation(model, degradation, y, steps=options.latent_steps, restarts=options.restarts, lam=options.lam,
                                   lr=options.latent_lr, generator=generator).images.cpu()
    if name in ("dps", "repaint", "sdedit"):
        draws = [_diffusion_draw(name, model, degradation, y, options, generator) for _ in range(options.posterior_samples)]
        return torch.stack(draws).mean(0).cpu()
    raise UserError(f"unknown method '{name}'; choose one of {', '.join(METHODS)}")


def _diffusion_draw(name: str, model, degradation: Degradation, y: torch.Tensor, options: SolverOptions,
                    generator: torch.Generator | None) -> torch.Tensor:
    if name == "dps":
        return diffusion_posterior_sampling(model, degradation, y, steps=options.steps or options.dps_steps,
                                            scale=options.dps_scale, generator=generator)
    if name == "repaint":
        return repaint(model, degradation, y, steps=options.steps or options.repaint_steps, jump_length=options.jump_length,
                       resamples=options.resamples, generator=generator)
    strength = options.strength
    if strength is None and not (isinstance(degradation.operator, Identity) and degradation.noise_sigma > 0):
        strength = 0.5
    return sdedit(model, degradation.operator.to_image(y), strength=strength, noise_sigma=degradation.noise_sigma,
                  steps=options.steps or options.sdedit_steps, generator=generator)


# ---------------------------------------------------------------------------- scoring


def score(recovered: torch.Tensor, originals: torch.Tensor) -> dict[str, dict[str, float]]:
    """Mean and standard deviation (over images, ddof = 0) of MSE, RMSE, PSNR and SSIM.
    An exact image's infinite PSNR is left out of both, and counted in ``num_infinite``."""
    metrics = RecoveryMetrics()
    metrics.update(recovered.float().cpu(), originals.float().cpu())
    table = {}
    for name, scores in metrics.compute().items():
        finite = scores.per_image[torch.isfinite(scores.per_image)]
        std = float(finite.std(unbiased=False)) if finite.numel() else math.nan
        table[name] = {"mean": scores.mean, "std": std, "num_infinite": scores.num_infinite}
    return table


@dataclass
class MethodResult:
    name: str
    kind: str
    images: torch.Tensor
    recovered: dict[str, dict[str, float]]  # R vs O
    cpu_s: float
    wall_s: float


@dataclass
class Recovery:
    task: TaskSpec
    originals: torch.Tensor
    observed: torch.Tensor  # N: the measurement as an image in [0, 1]
    mask: torch.Tensor | None
    degraded: dict[str, dict[str, float]]  # N vs O
    methods: dict[str, MethodResult] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def best(self, kind: str, metric: str = "psnr") -> tuple[str, float] | None:
        scored = [(r.recovered[metric]["mean"], name) for name, r in self.methods.items() if r.kind == kind]
        if not scored:
            return None
        value, name = max(scored)
        return name, value

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            **self.info,
            "task": self.task.task,
            "degradation": self.task.to_dict(),
            "n": int(self.originals.shape[0]),
            "metrics": list(METRIC_NAMES),
            "degraded": self.degraded,
            "methods": {name: {"kind": r.kind, "description": METHODS[r.name].description, "degraded": self.degraded,
                               "recovered": r.recovered, "cpu_s": round(r.cpu_s, 3), "wall_s": round(r.wall_s, 3)}
                        for name, r in self.methods.items()},
        }
        generative, classical = self.best("generative"), self.best("classical")
        out["best"] = {
            "generative": {"method": generative[0], "psnr": generative[1]} if generative else None,
            "classical": {"method": classical[0], "psnr": classical[1]} if classical else None,
            "psnr_gain_db": generative[1] - classical[1] if generative and classical else None,
        }
        return out

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        header = ["method", "kind", "compare"] + [f"{m}_{s}" for m in METRIC_NAMES for s in ("mean", "std")] + ["cpu_s"]
        writer.writerow(header)
        for name, r in self.methods.items():
            for compare, table in (("N vs O", self.degraded), ("R vs O", r.recovered)):
                writer.writerow([name, r.kind, compare] + [f"{table[m][s]:.6g}" for m in METRIC_NAMES for s in ("mean", "std")]
                                + [f"{r.cpu_s:.3f}"])
        return buffer.getvalue()

    def format_table(self) -> str:
        """The table as aligned text, for the terminal."""
        lines = [f"{'method':16s} {'kind':10s} {'':6s} " + " ".join(f"{m.upper():>17s}" for m in METRIC_NAMES) + f" {'cpu s':>8s}"]

        def row(label: str, kind: str, compare: str, table: dict, cpu: str) -> str:
            cells = " ".join(f"{table[m]['mean']:8.4f} ± {table[m]['std']:6.4f}" if m != "psnr" else
                             f"{table[m]['mean']:8.2f} ± {table[m]['std']:6.2f}" for m in METRIC_NAMES)
            return f"{label:16s} {kind:10s} {compare:6s} {cells} {cpu:>8s}"

        lines.append(row("(degraded)", "", "N vs O", self.degraded, ""))
        for name, r in self.methods.items():
            lines.append(row(name, r.kind, "R vs O", r.recovered, f"{r.cpu_s:.1f}"))
        return "\n".join(lines)


def recover(model, originals: torch.Tensor, spec: TaskSpec, methods: list[str] | None = None,
            options: SolverOptions | None = None, seed: int = 0, progress: Callable[[str], None] | None = None) -> Recovery:
    """Degrade ``originals`` as ``spec`` says, recover them with each method, score both.

    ``model`` may be None when only classical methods are asked for. Deterministic given
    ``seed``: the damage is drawn from it, and each method gets its own stream derived from it.
    """
    spec = spec.resolved()
    options = options or SolverOptions()
    names = resolve_methods(methods, spec.task, model)
    originals = originals.detach().float().cpu()
    damage = torch.Generator().manual_seed(seed)
    degradation = make_degradation(spec, tuple(originals.shape[1:]), originals.shape[0], damage)
    y = degradation.measure(originals, damage)
    observed = degradation.observed_image(y)
    result = Recovery(spec, originals, observed, degradation.mask, score(observed, originals))
    if model is not None:
        y_model = y.to(model.device)
    for name in names:
        if progress:
            progress(name)
        generator = torch.Generator().manual_seed(_method_seed(seed, name))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if METHODS[name].kind == "generative":
            images = solve(name, model, degradation, y_model, options, generator)
        else:
            images = solve(name, model, degradation, y, options, generator)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        result.methods[name] = MethodResult(name, METHODS[name].kind, images, score(images, originals), cpu, wall)
    return result


# ---------------------------------------------------------------------------- figures


MISSING_COLOUR = (0.85, 0.25, 0.25)  # how removed pixels are drawn in the "degraded" column


def _as_rgb(images: torch.Tensor) -> torch.Tensor:
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def recovery_figure(columns: dict[str, torch.Tensor], mask: torch.Tensor | None = None, mask_column: str | None = None,
                    max_height: int = 4096):
    """One row per image, one labelled column per entry of ``columns`` (each NCHW in [0, 1]),
    upscaled with nearest-neighbour. Pixels a mask removed are drawn in red in ``mask_column``
    (they are zero in the data, which on digits would look like background)."""
    from PIL import Image, ImageDraw, ImageFont

    from genimg.images import to_pil

    n, _, height, width = next(iter(columns.values())).shape
    scale = max(1, min(max(1, 48 // width), (max_height - 16) // max(1, n * (height + 2))))
    font = ImageFont.load_default()
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_width = {name: int(measure.textlength(name, font=font)) + 6 for name in columns}
    cell_w, cell_h = width * scale, height * scale
    col_w = {name: max(cell_w + 4, label_width[name]) for name in columns}
    header = 16
    figure = Image.new("RGB", (sum(col_w.values()), header + n * (cell_h + 2) + 2), "white")
    draw = ImageDraw.Draw(figure)
    left = 0
    for name, images in columns.items():
        draw.text((left + (col_w[name] - label_width[name]) // 2 + 3, 2), name, fill="black", font=font)
        rgb = _as_rgb(images.detach().float().cpu().clamp(0, 1))
        if mask is not None and name == mask_column:
            missing = (mask.expand(n, 1, height, width) < 0.5).expand(-1, 3, -1, -1)
            colour = torch.tensor(MISSING_COLOUR).view(1, 3, 1, 1).expand_as(rgb)
            rgb = torch.where(missing, colour, rgb)
        for i in range(n):
            figure.paste(to_pil(rgb[i], scale), (left + (col_w[name] - cell_w) // 2, header + i * (cell_h + 2) + 2))
        left += col_w[name]
    return figure


# ---------------------------------------------------------------------------- run directories


def _load_images(run, split: str, n: int) -> tuple[torch.Tensor, str]:
    d = run.config().data
    data = load_split(d, split)
    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    if n > len(data):
        raise UserError(f"--n {n} but the {split} split of {d.dataset} has {len(data)} images; pass --n {len(data)} or fewer")
    return data.images[:n], d.dataset


def run_recovery(run_path: str | Path, spec: TaskSpec, methods: list[str] | None = None, *, n: int = 64, seed: int = 0,
                 split: str = "test", options: SolverOptions | None = None, out: str | Path | None = None, ema: bool = True,
                 progress: Callable[[str], None] | None = None) -> tuple[Recovery, Path]:
    """Recover the first ``n`` images of a split of the run's dataset; write figure.png,
    metrics.json and metrics.csv into ``out`` (default RUN/recover/<task>)."""
    run = RunDir.open(run_path)
    spec = spec.resolved()
    family = run.config().family
    model = load_model(run.path, ema=ema)
    names = resolve_methods(methods, spec.task, model)  # fail before loading the data
    make_degradation(spec, tuple(run.spec().image_shape), 1)  # likewise for tasks the data cannot serve
    originals, dataset = _load_images(run, split, n)
    result = recover(model, originals, spec, names, options, seed, progress)
    result.info.update({"run": str(run.path), "family": family, "dataset": dataset, "split": split, "seed": seed,
                        "options": asdict(options or SolverOptions())})
    out_dir = Path(out) if out else run.path / "recover" / spec.task
    columns = {"original": result.originals, "degraded": result.observed, **{k: r.images for k, r in result.methods.items()}}
    save_png(recovery_figure(columns, result.mask, "degraded"), out_dir / "figure.png")
    write_json(out_dir / "metrics.json", result.to_dict())
    write_text(out_dir / "metrics.csv", result.to_csv())
    return result, out_dir


def load_input_image(path: str | Path, image_shape: tuple[int, int, int]) -> torch.Tensor:
    """A user's PNG (e.g. a stroke painting) as (1, C, H, W) in [0, 1], resized (area-averaged)
    to the model's size and converted to its channels."""
    from PIL import Image

    path = Path(path)
    if not path.exists():
        raise UserError(f"input image {path} does not exist")
    try:
        image = Image.open(path)
        image.load()
    except Exception as e:
        raise UserError(f"cannot read {path} as an image ({e}); pass a PNG") from None
    channels, height, width = image_shape
    image = image.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BOX)
    array = np.asarray(image, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array)[None, None] if channels == 1 else torch.from_numpy(array).permute(2, 0, 1)[None]
    return tensor.contiguous()


def run_edit(run_path: str | Path, input_path: str | Path, *, strength: float = 0.5, n: int = 8, seed: int = 0,
             steps: int | None = None, out: str | Path | None = None, ema: bool = True) -> tuple[torch.Tensor, Path]:
    """SDEdit on a user's image: ``n`` edits of it, written beside it as RUN/recover/edit/figure.png."""
    run = RunDir.open(run_path)
    model = load_model(run.path, ema=ema)
    reason = model.refusal("denoiser", "--task edit (sdedit)")
    if reason is not None:
        raise UserError(f"{reason}; with this model choose one of {', '.join(TASKS)}")
    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    options = SolverOptions(strength=strength, steps=steps)  # validates strength and steps
    image = load_input_image(input_path, tuple(run.spec().image_shape))
    generator = torch.Generator().manual_seed(_method_seed(seed, "sdedit"))
    edits = sdedit(model, image.repeat(n, 1, 1, 1), strength=options.strength, steps=options.steps or options.sdedit_steps,
                   generator=generator).cpu()
    out_dir = Path(out) if out else run.path / "recover" / EDIT_TASK
    columns = {"input": image, **{f"edit {i + 1}": edits[i : i + 1] for i in range(n)}}
    save_png(recovery_figure(columns), out_dir / "figure.png")
    write_json(out_dir / "metrics.json", {"task": EDIT_TASK, "run": str(run.path), "input": str(input_path),
                                          "strength": strength, "n": n, "seed": seed,
                                          "steps": options.steps or options.sdedit_steps})
    return edits, out_dir
