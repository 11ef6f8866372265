"""The knobs of the recovery methods (``SolverOptions``), validated when made."""

from __future__ import annotations

from dataclasses import dataclass

from genimg.errors import UserError


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
    dc_steps: int = 50  # dc: reverse steps
    dc_iterations: int = 5  # dc: conjugate-gradient steps of the data-consistency step
    strength: float | None = None  # sdedit: noise level as a fraction of T; None: matched (denoise) or 0.5
    posterior_samples: int = 1  # diffusion: average this many samples
    consistency_rounds: int | None = None  # dps, dc: final data-consistency rounds; None: the operator's default
    # classical
    tv_weight: float | None = None  # None: sigma / 3 (tv), 3e-4 + 0.1 sigma (tv-cs)
    tv_iterations: int = 1000  # tv-cs: primal-dual iterations
    sart_iterations: int = 40  # sart: sweeps; on the validation split 8 views gave 19.4 dB at 5, 26.9 at 40
    nlm_h: float | None = None  # None: sigma / 2
    rl_iterations: int = 5

    def __post_init__(self) -> None:
        for name in (
            "latent_steps",
            "restarts",
            "posterior_samples",
            "dps_steps",
            "repaint_steps",
            "sdedit_steps",
            "dc_steps",
            "dc_iterations",
            "jump_length",
            "resamples",
            "rl_iterations",
            "tv_iterations",
            "sart_iterations",
        ):
            if getattr(self, name) < 1:
                raise UserError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.consistency_rounds is not None and self.consistency_rounds < 0:
            raise UserError(f"--consistency-rounds must be >= 0, got {self.consistency_rounds}")
        if self.steps is not None and self.steps < 1:
            raise UserError(f"--steps must be at least 1, got {self.steps}")
        if self.strength is not None and not 0 < self.strength <= 1:
            raise UserError(
                f"--strength is the fraction of the noise schedule to go back and must lie in (0, 1], "
                f"got {self.strength}"
            )
        if self.tv_weight is not None and not self.tv_weight >= 0:
            raise UserError(f"--tv-weight must be >= 0, got {self.tv_weight}")
        if self.lam < 0:
            raise UserError(f"--lam must be >= 0, got {self.lam}")
