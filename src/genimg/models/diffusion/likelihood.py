"""The variational bound on log p(x) of a diffusion model (Ho et al. 2020, eq. 5), per image in nats.

    -log p(x_0) <= L_T + sum_{t=2..T} L_{t-1} + L_0
    L_T     = KL(q(x_T | x_0) || N(0, I))                              the prior term
    L_{t-1} = E_q KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t))         Gaussian KLs
    L_0     = -E_q log p(x_0 | x_1)                                     the discretised decoder

(paper indices; in code timestep index i = t - 1). Each expectation is estimated with one draw
of x_t per image and term, as in Ho et al.'s code; every one of the T terms is computed.

The decoder is Ho et al.'s discretised Gaussian: the data's grey levels are bins of width
2 / (levels - 1) in [-1, 1] (17 levels for digits, 256 for 8-bit images), the edge bins extend
to +-infinity, and p(x_0 | x_1) is the mass the Gaussian N(mu(x_1), sigma_1^2) puts on x's bin.
It is a probability, so the bound is on a discrete log-likelihood and compares in nats with a
VAE's categorical decoder.

The reverse-step means use the network's x_0 prediction (clipped to [-1, 1] by default, as Ho
et al. do); mean_q - mean_p = c0_t (x_0 - x0_hat) exactly, which keeps the small differences
accurate.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from genimg.models.diffusion.schedules import NoiseSchedule, broadcast
from genimg.rng import gaussian_noise


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor) -> torch.Tensor:
    """KL(N(mean1, exp(logvar1)) || N(mean2, exp(logvar2))), elementwise, in nats."""
    return 0.5 * (logvar2 - logvar1 + torch.exp(logvar1 - logvar2) + (mean1 - mean2) ** 2 * torch.exp(-logvar2) - 1)


def _log_ndtr_interval(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """log(Phi(hi) - Phi(lo)) for lo < hi, without cancellation: an interval on the right of 0
    is mirrored to the left, where both CDF values are small and log_ndtr is accurate."""
    mirror = lo > 0
    lo, hi = torch.where(mirror, -hi, lo), torch.where(mirror, -lo, hi)
    log_hi, log_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    d = log_lo - log_hi  # <= 0
    log1mexp = torch.where(d > -math.log(2), torch.log(-torch.expm1(d)), torch.log1p(-torch.exp(d)))
    return log_hi + log1mexp


def discretized_gaussian_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor, levels: int
) -> torch.Tensor:
    """log P(bin of x) under N(mean, exp(log_scale)^2), elementwise; x holds exact grey levels in
    [-1, 1] spaced 2 / (levels - 1) apart. The lowest and highest bins reach to -inf and +inf."""
    x, mean, log_scale = (v.double() for v in torch.broadcast_tensors(x, mean, log_scale))
    half_bin = 1.0 / (levels - 1)
    inv_scale = torch.exp(-log_scale)
    lo = torch.where(x <= -1 + 1e-6, torch.full_like(x, -math.inf), (x - half_bin - mean) * inv_scale)
    hi = torch.where(x >= 1 - 1e-6, torch.full_like(x, math.inf), (x + half_bin - mean) * inv_scale)
    return _log_ndtr_interval(lo, hi)


def to_grid(x01: torch.Tensor, levels: int) -> torch.Tensor:
    """Images in [0, 1] -> the nearest of ``levels`` grey levels, in [-1, 1]."""
    return torch.round(x01 * (levels - 1)) / (levels - 1) * 2 - 1


Denoiser = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


@torch.inference_mode()
def variational_bound(
    predict_x0: Denoiser,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    labels: torch.Tensor | None,
    levels: int,
    *,
    variance: str = "fixed_small",
    t_stride: int = 1,
    max_batch: int = 2048,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> dict[str, torch.Tensor]:
    """Per-image terms of the bound, float64, in nats: ``prior`` (L_T), ``diffusion`` (the sum of
    L_{t-1}), ``decoder`` (L_0) and ``vlb`` = -(prior + diffusion + decoder) <= log p(x).

    ``predict_x0(x_t, t, labels)`` returns the network's (clipped) x_0 prediction. Network
    evaluations are batched over images and timesteps together, ``max_batch`` at a time.

    ``t_stride`` > 1 estimates the diffusion sum from one randomly placed timestep per block of
    ``t_stride`` (stratified, unbiased, weighted by the block size); the result is then an
    estimate of the bound, not the bound.
    """
    n = x0.shape[0]
    T = schedule.timesteps
    dims = tuple(range(1, x0.dim()))
    x0 = x0.to(torch.float32)

    # L_T: q(x_T | x_0) = N(sqrt(abar_T) x_0, 1 - abar_T) against N(0, 1).
    abar_T = schedule.alphas_cumprod[-1]
    prior = normal_kl(
        abar_T.sqrt() * x0.double(),
        torch.log1p(-abar_T),
        torch.zeros((), dtype=torch.float64, device=x0.device),
        torch.zeros((), dtype=torch.float64, device=x0.device),
    ).sum(dims)

    # Which timesteps, with which weights: all of 1..T-1 (exact), or one per stride block.
    if t_stride <= 1:
        timesteps = torch.arange(1, T)
        weights = torch.ones(T - 1, dtype=torch.float64)
    else:
        starts = torch.arange(1, T, t_stride)
        sizes = torch.clamp(T - starts, max=t_stride)
        offsets = (
            torch.rand(len(starts), generator=generator, device=generator.device if generator else "cpu").cpu() * sizes
        ).long()
        timesteps = starts + offsets
        weights = sizes.double()
    timesteps = torch.cat([torch.zeros(1, dtype=torch.long), timesteps])  # index 0: the decoder term
    weights = torch.cat([torch.ones(1, dtype=torch.float64), weights])

    diffusion = torch.zeros(n, dtype=torch.float64, device=x0.device)
    decoder = torch.zeros(n, dtype=torch.float64, device=x0.device)
    # (image, timestep) pairs, image-major, evaluated in chunks of max_batch.
    pairs = n * len(timesteps)
    bar = tqdm(total=pairs, desc="vlb", unit="eval", leave=False, disable=not progress)
    device = x0.device
    for start in range(0, pairs, max_batch):
        idx = torch.arange(start, min(start + max_batch, pairs))
        img, k = idx // len(timesteps), idx % len(timesteps)
        t = timesteps[k].to(device)
        img_d = img.to(device)
        x = x0[img_d]
        y = labels[img_d] if labels is not None else None
        noise = gaussian_noise(x.shape, generator, device)
        x_t = schedule.q_sample(x, t, noise)
        x0_hat = predict_x0(x_t, t, y).to(torch.float64)
        log_var_p = schedule.reverse_log_variance(t, variance)

        is_decoder = t == 0
        # L_{t-1} for t >= 1 (index): KL between the true posterior and the model's step.
        c0, _ = schedule.posterior_coefficients(t)
        var_q = schedule.posterior_variance[t]
        mean_gap = broadcast(c0, x0_hat) * (x.double() - x0_hat)
        kl = normal_kl(
            mean_gap,
            broadcast(var_q.clamp(min=1e-300).log(), mean_gap),
            torch.zeros_like(mean_gap),
            broadcast(log_var_p, mean_gap),
        ).sum(dims)
        # L_0: the discretised decoder; its mean is x0_hat (c0 = 1, ct = 0 at index 0).
        sel = is_decoder.nonzero().squeeze(1)
        if len(sel):
            dec = discretized_gaussian_log_likelihood(
                x[sel], x0_hat[sel], broadcast(0.5 * log_var_p[sel], x0_hat[sel]), levels
            )
            decoder.index_add_(0, img_d[sel], -dec.sum(dims))
        terms = torch.where(is_decoder, torch.zeros_like(kl), kl * weights[k].to(device))
        diffusion.index_add_(0, img_d, terms)
        bar.update(len(idx))
    bar.close()
    return {"prior": prior, "diffusion": diffusion, "decoder": decoder, "vlb": -(prior + diffusion + decoder)}
