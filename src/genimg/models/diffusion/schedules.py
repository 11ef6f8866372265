"""The forward process q(x_t | x_0) and the one place where model outputs change meaning.

Timesteps are indexed 0..T-1 as in diffusers: index ``t`` is the paper's step t+1, so
``alphas_cumprod[t]`` is the paper's alpha-bar_{t+1}, and "t = -1" is the clean image
(alpha-bar = 1).

    q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)
    q(x_{t-1} | x_t, x_0) = N(c0_t x_0 + ct_t x_t, beta_tilde_t I)       (Ho et al. 2020, eq. 7)

Schedules are computed in float64 and kept as non-persistent buffers: they move with the
model between devices, are rebuilt from the config instead of being saved, and an EMA copies
them rather than averaging them (they are not parameters). Apple's MPS has no float64: a
schedule moved there is held in float32, rounded once from the float64 values computed on the
CPU, and a move back to another device restores those (``NoiseSchedule._apply``).

A network predicts one of three equivalent targets; ``x0_and_eps`` and ``target`` convert
between them (Salimans & Ho 2022 for v):

    epsilon:  the noise;     x0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar)
    x0:       the clean image
    v:        sqrt(abar) eps - sqrt(1 - abar) x0;  x0 = sqrt(abar) x_t - sqrt(1 - abar) v
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from genimg.errors import UserError
from genimg.models.diffusion.config import PREDICTIONS, SCHEDULES


def linear_betas(timesteps: int) -> torch.Tensor:
    """Ho et al. 2020: betas from 1e-4 to 0.02 for T = 1000, scaled by 1000 / T for other T
    (as improved-diffusion does) so that the total noise added stays about the same."""
    scale = 1000.0 / timesteps
    return torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)


def cosine_betas(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal 2021: abar(t) = f(t) / f(0), f(t) = cos^2(((t/T + s) / (1 + s)) pi/2),
    beta_t = 1 - abar_t / abar_{t-1}, clipped at ``max_beta`` so the last step stays finite."""
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


def make_betas(schedule: str, timesteps: int) -> torch.Tensor:
    if timesteps < 2:
        raise UserError(f"model.timesteps must be at least 2, got {timesteps}")
    if schedule == "linear":
        return linear_betas(timesteps)
    if schedule == "cosine":
        return cosine_betas(timesteps)
    raise UserError(f"model.schedule must be one of {', '.join(SCHEDULES)}, got '{schedule}'")


def broadcast(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-sample values (N,) -> (N, 1, 1, 1) in ``like``'s dtype, to scale images."""
    return values.to(like.dtype).view(-1, *([1] * (like.dim() - 1)))


class NoiseSchedule(nn.Module):
    """Betas and everything derived from them, as float64 buffers indexed by timestep 0..T-1."""

    # the buffers registered in __init__
    betas: torch.Tensor
    alphas_cumprod: torch.Tensor
    alphas_cumprod_prev: torch.Tensor
    posterior_variance: torch.Tensor

    def __init__(self, schedule: str = "linear", timesteps: int = 1000) -> None:
        super().__init__()
        self.kind = schedule
        self.timesteps = timesteps
        betas = make_betas(schedule, timesteps)
        alphas_cumprod = torch.cumprod(1 - betas, dim=0)
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        # beta_tilde_t is 0 at t = 0 (x_{-1} = x_0 is then known exactly).
        posterior_variance = betas * (1 - alphas_cumprod_prev) / (1 - alphas_cumprod)
        self._float64 = {
            "betas": betas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "posterior_variance": posterior_variance,
        }
        for name, value in self._float64.items():
            self.register_buffer(name, value, persistent=False)
        self._float32_for_mps = False  # whether the buffers are the float32 copies made for MPS

    def _apply(self, fn: Callable[[torch.Tensor], torch.Tensor], recurse: bool = True) -> NoiseSchedule:
        """Every move and cast of the module passes here (``.to``, ``.cuda``, ``.float``, ...): a
        float64 buffer cannot be moved to MPS, so there it goes as float32, cast on the CPU from
        the float64 values, which any later move elsewhere starts from again."""
        # Where fn sends a tensor from where the buffers are now (a cast or a layout change stays put).
        to_mps = fn(self.betas.new_empty(0, dtype=torch.float32)).device.type == "mps"
        if to_mps != self._float32_for_mps:  # onto MPS, or off it
            for name, value in self._float64.items():
                self._buffers[name] = value.float() if to_mps else value
            self._float32_for_mps = to_mps
        return super()._apply(fn, recurse)

    def alpha_bar(self, t: torch.Tensor) -> torch.Tensor:
        """abar at integer timesteps ``t``; t = -1 means the clean image (abar = 1)."""
        t = torch.as_tensor(t, device=self.alphas_cumprod.device).long()
        return torch.where(t >= 0, self.alphas_cumprod[t.clamp(min=0)], torch.ones_like(self.alphas_cumprod[0]))

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """A draw from q(x_t | x_0) with the given standard normal ``noise``."""
        alpha_bar = broadcast(self.alpha_bar(t), x0)
        return alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise

    def nearest_timestep(self, log_sigma: torch.Tensor) -> torch.Tensor:
        """The timesteps whose noise level sigma = sqrt((1 - abar) / abar) is nearest in log to exp(log_sigma)."""
        table = 0.5 * (torch.log1p(-self.alphas_cumprod) - self.alphas_cumprod.log())  # increasing in t
        return (table[None, :] - log_sigma.to(table)[:, None]).abs().argmin(dim=1)

    def posterior_coefficients(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(c0, ct) with mean of q(x_{t-1} | x_t, x_0) = c0 x_0 + ct x_t, for t >= 0."""
        t = torch.as_tensor(t, device=self.betas.device).long()
        beta, abar, abar_prev = self.betas[t], self.alphas_cumprod[t], self.alphas_cumprod_prev[t]
        c0 = abar_prev.sqrt() * beta / (1 - abar)
        ct = (1 - beta).sqrt() * (1 - abar_prev) / (1 - abar)
        return c0, ct

    def reverse_log_variance(self, t: torch.Tensor, variance: str = "fixed_small") -> torch.Tensor:
        """log sigma_t^2 of the reverse step p(x_{t-1} | x_t) with a fixed variance (Ho et al.):
        ``fixed_small`` is beta_tilde_t, ``fixed_large`` is beta_t. At t = 0 both use
        beta_tilde_1, as in Ho et al.'s code, since beta_tilde_0 = 0: this is the width of the
        discretised decoder p(x_0 | x_1)."""
        t = torch.as_tensor(t, device=self.betas.device).long()
        if variance == "fixed_small":
            values = torch.cat([self.posterior_variance[1:2], self.posterior_variance[1:]])
        elif variance == "fixed_large":
            values = torch.cat([self.posterior_variance[1:2], self.betas[1:]])
        else:
            raise UserError(f"variance must be fixed_small or fixed_large, got '{variance}'")
        return values.log()[t]

    def extra_repr(self) -> str:
        return f"schedule={self.kind}, timesteps={self.timesteps}"


# ---------------------------------------------------------------------------- predictions


def check_prediction(prediction: str) -> str:
    if prediction == "eps":
        return "epsilon"
    if prediction not in PREDICTIONS:
        raise UserError(f"model.prediction must be one of {', '.join(PREDICTIONS)}, got '{prediction}'")
    return prediction


def x0_and_eps(
    prediction: str, output: torch.Tensor, x_t: torch.Tensor, alpha_bar: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The clean image and the noise implied by a network ``output`` of kind ``prediction``
    at noisy images ``x_t`` with per-sample ``alpha_bar`` (N,)."""
    a = broadcast(alpha_bar, x_t).sqrt()
    s = broadcast(1 - alpha_bar, x_t).sqrt()
    if prediction == "epsilon":
        return (x_t - s * output) / a, output
    if prediction == "x0":
        return output, (x_t - a * output) / s
    if prediction == "v":
        return a * x_t - s * output, s * x_t + a * output
    raise UserError(f"unknown prediction '{prediction}'; choose one of {', '.join(PREDICTIONS)}")


def target(prediction: str, x0: torch.Tensor, eps: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """What a network of kind ``prediction`` should output for clean ``x0`` noised with ``eps``."""
    if prediction == "epsilon":
        return eps
    if prediction == "x0":
        return x0
    if prediction == "v":
        return broadcast(alpha_bar, x0).sqrt() * eps - broadcast(1 - alpha_bar, x0).sqrt() * x0
    raise UserError(f"unknown prediction '{prediction}'; choose one of {', '.join(PREDICTIONS)}")


def convert(output: torch.Tensor, x_t: torch.Tensor, alpha_bar: torch.Tensor, source: str, dest: str) -> torch.Tensor:
    """Re-express a network output of kind ``source`` as kind ``dest`` (e.g. v -> epsilon)."""
    x0, eps = x0_and_eps(source, output, x_t, alpha_bar)
    return target(dest, x0, eps, alpha_bar)


def min_snr_weight(alpha_bar: torch.Tensor, prediction: str, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma (Hang et al. 2023) per timestep, for a loss on ``prediction``: the x0 loss
    weighted by min(SNR, gamma), converted to the target at hand (SNR = abar / (1 - abar)). Easy,
    nearly clean timesteps stop dominating the gradient, which speeds up training several-fold."""
    snr = alpha_bar / (1 - alpha_bar)
    clipped = snr.clamp(max=gamma)
    if prediction == "epsilon":
        return (clipped / snr).float()
    if prediction == "v":
        return (clipped / (snr + 1)).float()
    return clipped.float()
