"""Samplers: small objects that walk x_T -> x_0 one ``step`` at a time, as in diffusers.

A sampler knows the noise schedule and what the network predicts; it does not know the
network. ``timesteps`` lists the timesteps to visit, largest first; the caller evaluates the
network at each and hands its output to ``step(model_output, t, x_t) -> x_prev``, where
x_prev is the sample at the next timestep of the list (or the clean image after the last).

- ``DDPMSampler``: ancestral sampling from p(x_{t'} | x_t) (Ho et al. 2020), the Gaussian
  whose mean is the posterior q(x_{t'} | x_t, x_0) at the predicted x_0 and whose variance is
  ``fixed_small`` (the posterior variance beta_tilde) or ``fixed_large`` (beta). With all T
  steps this is the model that was trained; with fewer it is the respaced chain of Nichol &
  Dhariwal 2021 (beta' = 1 - abar_t / abar_t').
- ``DDIMSampler``: Song et al. 2021, eq. 12, with noise scale ``eta`` (0: deterministic,
  1: the DDPM posterior variance), for any number of steps.
- ``DPMSolverSampler``: DPM-Solver++(2M) (Lu et al. 2022), a second-order multistep solver of
  the probability-flow ODE in log-SNR time, one network call per step: at 20-50 steps it draws
  what DDIM needs several times more steps for. Its steps match diffusers'
  ``DPMSolverMultistepScheduler`` (midpoint form, first order on the first and the last step).

Timestep spacings follow diffusers (Lin et al. 2023, table 2): ``leading`` (0, k, 2k, ...
with k = T // steps), ``trailing`` (ending at T - 1) and ``linspace`` (0 to T - 1 evenly,
rounded). With every step (steps = T) all three give T-1, ..., 0.

Both clip the predicted x_0 to [-1, 1] by default (``clip``), as diffusers does; eps is not
recomputed from the clipped x_0 (diffusers' default ``use_clipped_model_output=False``).
"""

from __future__ import annotations

import numpy as np
import torch

from genimg.errors import UserError
from genimg.models.diffusion.config import SAMPLERS, SPACINGS, VARIANCES
from genimg.models.diffusion.schedules import NoiseSchedule, broadcast, check_prediction, x0_and_eps
from genimg.rng import gaussian_noise


def spaced_timesteps(train_timesteps: int, steps: int, spacing: str = "leading") -> torch.Tensor:
    """The ``steps`` timesteps to visit, largest first, exactly as diffusers' set_timesteps."""
    T = train_timesteps
    if not 1 <= steps <= T:
        raise UserError(f"the number of sampling steps must lie in 1..{T} (the training timesteps), got {steps}")
    if spacing == "linspace":
        ts = np.linspace(0, T - 1, steps).round()[::-1]
    elif spacing == "leading":
        ts = (np.arange(0, steps) * (T // steps)).round()[::-1]
    elif spacing == "trailing":
        ts = np.round(np.arange(T, 0, -T / steps)) - 1
    else:
        raise UserError(f"timestep spacing must be one of {', '.join(SPACINGS)}, got '{spacing}'")
    return torch.from_numpy(ts.astype(np.int64).copy())


class Sampler:
    """What DDPM and DDIM share: the timestep list, its successor map and x_0 prediction."""

    def __init__(
        self,
        schedule: NoiseSchedule,
        prediction: str = "epsilon",
        steps: int | None = None,
        spacing: str = "leading",
        clip: bool = True,
    ) -> None:
        self.schedule = schedule
        self.prediction = check_prediction(prediction)
        self.clip = clip
        self.timesteps = spaced_timesteps(schedule.timesteps, steps or schedule.timesteps, spacing)
        nexts = self.timesteps.tolist()[1:] + [-1]
        self._previous = dict(zip(self.timesteps.tolist(), nexts))

    def __len__(self) -> int:
        return len(self.timesteps)

    def previous_timestep(self, t: int) -> int:
        """The timestep the step from ``t`` lands on (-1: the clean image)."""
        t = int(t)
        if t not in self._previous:
            raise ValueError(f"timestep {t} is not one of this sampler's {len(self)} timesteps")
        return self._previous[t]

    def _alphas(self, t: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """abar at t and at the previous timestep, as (N,) tensors on x's device."""
        n = x.shape[0]
        ab_t = self.schedule.alpha_bar(torch.tensor(int(t))).to(x.device).expand(n)
        ab_prev = self.schedule.alpha_bar(torch.tensor(self.previous_timestep(t))).to(x.device).expand(n)
        return ab_t, ab_prev

    def predict_x0_eps(
        self, model_output: torch.Tensor, t: int, x_t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ab_t, _ = self._alphas(t, x_t)
        x0, eps = x0_and_eps(self.prediction, model_output, x_t, ab_t)
        if self.clip:
            x0 = x0.clamp(-1, 1)
        return x0, eps

    def step(
        self,
        model_output: torch.Tensor,
        t: int,
        x_t: torch.Tensor,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError


class DDPMSampler(Sampler):
    """Ancestral sampling: x_{t'} ~ N(c0 x0_hat + ct x_t, sigma^2 I), no noise on the last step."""

    def __init__(
        self,
        schedule: NoiseSchedule,
        prediction: str = "epsilon",
        steps: int | None = None,
        spacing: str = "leading",
        variance: str = "fixed_small",
        clip: bool = True,
    ) -> None:
        super().__init__(schedule, prediction, steps, spacing, clip)
        if variance not in VARIANCES:
            raise UserError(f"variance must be one of {', '.join(VARIANCES)}, got '{variance}'")
        self.variance = variance

    def step(
        self,
        model_output: torch.Tensor,
        t: int,
        x_t: torch.Tensor,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        ab_t, ab_prev = self._alphas(t, x_t)
        beta = 1 - ab_t / ab_prev  # the one-step beta of the (possibly respaced) chain
        x0, _ = self.predict_x0_eps(model_output, t, x_t)
        c0 = ab_prev.sqrt() * beta / (1 - ab_t)
        ct = (1 - beta).sqrt() * (1 - ab_prev) / (1 - ab_t)
        mean = broadcast(c0, x_t) * x0 + broadcast(ct, x_t) * x_t
        if self.previous_timestep(t) < 0:
            return mean
        if self.variance == "fixed_small":
            var = ((1 - ab_prev) / (1 - ab_t) * beta).clamp(min=1e-20)
        else:
            var = beta
        if noise is None:
            noise = gaussian_noise(x_t.shape, generator, x_t.device, x_t.dtype)
        return mean + broadcast(var.sqrt(), x_t) * noise


class DDIMSampler(Sampler):
    """x_{t'} = sqrt(abar') x0_hat + sqrt(1 - abar' - sigma^2) eps_hat + sigma z,
    sigma = eta sqrt((1 - abar') / (1 - abar)) sqrt(1 - abar / abar')."""

    def __init__(
        self,
        schedule: NoiseSchedule,
        prediction: str = "epsilon",
        steps: int | None = None,
        spacing: str = "leading",
        eta: float = 0.0,
        clip: bool = True,
    ) -> None:
        super().__init__(schedule, prediction, steps, spacing, clip)
        if eta < 0:
            raise UserError(f"DDIM eta must be >= 0, got {eta}")
        self.eta = eta

    def step(
        self,
        model_output: torch.Tensor,
        t: int,
        x_t: torch.Tensor,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        ab_t, ab_prev = self._alphas(t, x_t)
        x0, eps = self.predict_x0_eps(model_output, t, x_t)
        sigma = self.eta * ((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)).sqrt()
        direction = (1 - ab_prev - sigma**2).clamp(min=0).sqrt()
        x_prev = broadcast(ab_prev.sqrt(), x_t) * x0 + broadcast(direction, x_t) * eps
        if self.eta > 0:
            if noise is None:
                noise = gaussian_noise(x_t.shape, generator, x_t.device, x_t.dtype)
            x_prev = x_prev + broadcast(sigma, x_t) * noise
        return x_prev

    def invert_step(self, model_output: torch.Tensor, t: int, x_prev: torch.Tensor) -> torch.Tensor:
        """The deterministic DDIM encoder, one step up: x at the previous timestep of ``t`` ->
        x at ``t``, with the network evaluated at (x_prev, t) (as diffusers' DDIMInverseScheduler).
        Predictions are not clipped, so decoding the result retraces the path as closely as the
        step size allows."""
        ab_t, ab_prev = self._alphas(t, x_prev)
        # First-order inversion: the noise the network sees at (x_prev, t) stands in for the one
        # it will see at (x_t, t) when decoding; x0 is then the image consistent with x_prev and
        # that noise at x_prev's own level.
        _, eps = x0_and_eps(self.prediction, model_output, x_prev, ab_t)
        x0 = (x_prev - broadcast((1 - ab_prev).sqrt(), x_prev) * eps) / broadcast(ab_prev.sqrt(), x_prev)
        return broadcast(ab_t.sqrt(), x_prev) * x0 + broadcast((1 - ab_t).sqrt(), x_prev) * eps


class DPMSolverSampler(Sampler):
    """DPM-Solver++(2M): with lambda = log(alpha / sigma) (alpha = sqrt(abar), sigma = sqrt(1 - abar)),
    h = lambda' - lambda and the x0 predictions D0 (now) and D_prev (one step back, h_prev before),

        x' = (sigma' / sigma) x - alpha' (exp(-h) - 1) (D0 + (D0 - D_prev) h / (2 h_prev)),

    the exact solution of the ODE in x0 terms with x0 extrapolated linearly in lambda. The first
    step (no history yet) and the last (to the clean image, lambda' = inf) are first order, which
    is DDIM. The history is reset at the first timestep, so one sampler serves batch after batch."""

    def __init__(
        self,
        schedule: NoiseSchedule,
        prediction: str = "epsilon",
        steps: int | None = None,
        spacing: str = "leading",
        clip: bool = True,
    ) -> None:
        super().__init__(schedule, prediction, steps, spacing, clip)
        self._first = int(self.timesteps[0])
        self._history: tuple[torch.Tensor, torch.Tensor] | None = None  # (x0 prediction, its lambda)

    def _log_snr_half(self, alpha_bar: torch.Tensor) -> torch.Tensor:
        """lambda = log(alpha / sigma) = log(abar / (1 - abar)) / 2."""
        return 0.5 * (alpha_bar.log() - (1 - alpha_bar).log())

    def step(
        self,
        model_output: torch.Tensor,
        t: int,
        x_t: torch.Tensor,
        generator: torch.Generator | None = None,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if int(t) == self._first:
            self._history = None  # a new chain
        ab_t, ab_prev = self._alphas(t, x_t)
        x0, _ = self.predict_x0_eps(model_output, t, x_t)
        alpha_prev, sigma_prev, sigma_t = ab_prev.sqrt(), (1 - ab_prev).sqrt(), (1 - ab_t).sqrt()
        lam_t = self._log_snr_half(ab_t)
        if self.previous_timestep(t) < 0:  # to the clean image: sigma' = 0, alpha' = 1, x' = D0
            self._history = None
            return x0
        lam_prev = self._log_snr_half(ab_prev)
        h = lam_prev - lam_t
        d = x0
        if self._history is not None:
            x0_before, lam_before = self._history
            r = (lam_t - lam_before) / h
            d = x0 + broadcast(0.5 / r, x0) * (x0 - x0_before)
        self._history = (x0, lam_t)
        return broadcast(sigma_prev / sigma_t, x_t) * x_t - broadcast(alpha_prev * torch.expm1(-h), x_t) * d


def make_sampler(
    name: str,
    schedule: NoiseSchedule,
    prediction: str,
    steps: int | None = None,
    spacing: str = "leading",
    eta: float = 0.0,
    variance: str = "fixed_small",
    clip: bool = True,
) -> Sampler:
    if name == "ddpm":
        return DDPMSampler(schedule, prediction, steps, spacing, variance, clip)
    if name == "ddim":
        return DDIMSampler(schedule, prediction, steps, spacing, eta, clip)
    if name == "dpmpp2m":
        return DPMSolverSampler(schedule, prediction, steps, spacing, clip)
    raise UserError(f"sampler must be one of {', '.join(SAMPLERS)}, got '{name}'")
