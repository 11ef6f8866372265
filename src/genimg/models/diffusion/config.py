"""The diffusion model's config and its declaration as a family (no torch here: see genimg.config.families)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

from genimg.config.families import FamilyInfo, read_presets
from genimg.errors import UserError

# The string choices: each Literal is the one source, its tuple of names is read from it.
Prediction = Literal["epsilon", "v", "x0"]
Schedule = Literal["linear", "cosine"]
Spacing = Literal["leading", "trailing", "linspace"]
Variance = Literal["fixed_small", "fixed_large"]
TimestepSampling = Literal["uniform", "lognormal"]
PREDICTIONS: tuple[Prediction, ...] = get_args(Prediction)
SCHEDULES: tuple[Schedule, ...] = get_args(Schedule)
SPACINGS: tuple[Spacing, ...] = get_args(Spacing)
VARIANCES: tuple[Variance, ...] = get_args(Variance)
TIMESTEP_SAMPLINGS: tuple[TimestepSampling, ...] = get_args(TimestepSampling)
PREDICTION_ALIASES: dict[str, Prediction] = {"eps": "epsilon"}  # an older name, still read from configs
# The samplers, listed here once: `genimg sample/evaluate --sampler` and a sweep's --eval-sampler take them from here.
Sampler = Literal["ddpm", "ddim", "dpmpp2m"]
SAMPLERS: tuple[Sampler, ...] = get_args(Sampler)


@dataclass
class DiffusionConfig:
    # forward process and what the network predicts
    timesteps: int = 1000  # T, the number of noising steps
    schedule: Schedule = "cosine"  # linear (Ho et al.) or cosine (Nichol & Dhariwal)
    # epsilon, v or x0: the network's regression target (MSE)
    prediction: Prediction = field(default="epsilon", metadata={"aliases": PREDICTION_ALIASES})
    # The noise levels training draws: uniform over the T timesteps, or lognormal as in EDM (Karras
    # et al. 2022): ln sigma ~ N(lognormal_mean, lognormal_std^2), sigma = sqrt((1 - abar) / abar),
    # rounded to the nearest timestep (so sampling, the bound and recovery are unchanged).
    timestep_sampling: TimestepSampling = "uniform"
    lognormal_mean: float = -1.2
    lognormal_std: float = 1.2
    # the U-Net
    channels: int = 32  # base width; level i has channels * channel_mult[i]
    channel_mult: list[int] | None = None  # per-level multipliers; default 1,2 (8x8), 1,2,2 (28x28, 32x32)
    res_blocks: int = 1  # residual blocks per level on the way down (one more on the way up)
    attention: bool = True  # self-attention at the lowest resolution and in the middle
    dropout: float = 0.0
    norm_groups: int = 8  # GroupNorm groups (at most)
    # classes
    conditional: bool = False  # class-conditional, with classifier-free guidance
    label_dropout: float = 0.1  # P(label -> null class) in training, for guidance
    # optimiser
    min_snr_gamma: float | None = None  # weight the loss by Min-SNR-gamma (Hang et al. 2023), e.g. 5; None: plain MSE
    lr: float = 2e-3
    weight_decay: float = 0.0
    warmup_steps: int = 100  # linear learning-rate warm-up
    # sampling defaults (each can be overridden per call to sample())
    sampler: Sampler = "ddpm"  # ddpm (ancestral), ddim, or dpmpp2m (DPM-Solver++(2M), second order)
    sample_steps: int | None = None  # None: all T steps
    eta: float = 0.0  # DDIM noise scale (0: deterministic)
    spacing: Spacing = "leading"  # timestep spacing with fewer steps: leading, trailing, linspace
    # DDPM reverse variance (and the bound's): fixed_small (beta_tilde) or fixed_large (beta)
    variance: Variance = "fixed_small"
    clip_x0: bool = True  # clip the predicted x0 to [-1, 1] while sampling and in the bound
    guidance: float = 1.0  # classifier-free guidance scale (conditional models)
    quantize: bool = True  # round samples to the data's grey levels (discrete data only), as the decoder does
    # Discrete data only: while the noise (std, in x0 units) is below this fraction of one grey-level
    # step, the reverse process snaps its predicted x0 to the nearest level, in sampling and in the
    # likelihood bound (0: off). 0.3 was chosen on the digits val split; see denoiser_output.
    snap_x0: float = 0.3
    sample_batch: int = 1000  # images per network call when sampling
    # FID and sample grids during training (train.fid_every, sample_every) use this fast sampler
    monitor_sampler: Sampler = "ddim"
    monitor_steps: int | None = 50  # None: all T steps

    def __post_init__(self) -> None:
        if self.prediction in PREDICTION_ALIASES:
            self.prediction = PREDICTION_ALIASES[self.prediction]
        if self.prediction not in PREDICTIONS:
            raise UserError(f"model.prediction must be one of {', '.join(PREDICTIONS)}, got '{self.prediction}'")
        if self.schedule not in SCHEDULES:
            raise UserError(f"model.schedule must be one of {', '.join(SCHEDULES)}, got '{self.schedule}'")
        if self.timestep_sampling not in TIMESTEP_SAMPLINGS:
            choices = ", ".join(TIMESTEP_SAMPLINGS)
            raise UserError(f"model.timestep_sampling must be one of {choices}, got '{self.timestep_sampling}'")
        if self.lognormal_std <= 0:
            raise UserError(f"model.lognormal_std must be positive (e.g. 1.2), got {self.lognormal_std}")
        if self.min_snr_gamma is not None and self.min_snr_gamma <= 0:
            raise UserError(f"model.min_snr_gamma must be positive (e.g. 5) or null, got {self.min_snr_gamma}")
        if self.timesteps < 2:
            raise UserError(f"model.timesteps must be at least 2, got {self.timesteps}")
        if self.sampler not in SAMPLERS:
            raise UserError(f"model.sampler must be one of {', '.join(SAMPLERS)}, got '{self.sampler}'")
        if self.spacing not in SPACINGS:
            raise UserError(f"model.spacing must be one of {', '.join(SPACINGS)}, got '{self.spacing}'")
        if self.variance not in VARIANCES:
            raise UserError(f"model.variance must be one of {', '.join(VARIANCES)}, got '{self.variance}'")
        if not 0 <= self.snap_x0 < 1:
            raise UserError(f"model.snap_x0 must lie in [0, 1) (a fraction of one grey-level step), got {self.snap_x0}")
        if self.monitor_sampler not in SAMPLERS:
            raise UserError(f"model.monitor_sampler must be one of {', '.join(SAMPLERS)}, got '{self.monitor_sampler}'")
        for key in ("sample_steps", "monitor_steps"):
            steps = getattr(self, key)
            if steps is not None and not 1 <= steps <= self.timesteps:
                raise UserError(f"model.{key} must lie in 1..{self.timesteps} (model.timesteps), got {steps}")
        if not 0 <= self.label_dropout < 1:
            raise UserError(f"model.label_dropout must lie in [0, 1), got {self.label_dropout}")
        if self.channels < 1 or self.res_blocks < 1:
            raise UserError("model.channels and model.res_blocks must be at least 1")
        if self.channel_mult is not None and (not self.channel_mult or min(self.channel_mult) < 1):
            raise UserError(
                f"model.channel_mult must be a non-empty list of positive integers, got {self.channel_mult}"
            )


FAMILY = FamilyInfo(
    name="diffusion",
    config_cls=DiffusionConfig,
    description=(
        "denoising diffusion (DDPM training; DDPM / DDIM sampling; linear / cosine schedules; epsilon / v / x0 "
        "prediction; class-conditional with classifier-free guidance; variational bound)"
    ),
    presets=read_presets(__package__),
    model="genimg.models.diffusion.model:DiffusionModel",
    train_defaults={
        "epochs": 150,
        "batch_size": 50,
        "ema_decay": 0.995,
        "grad_clip": 1.0,
        # keep the checkpoint with the best FID, measured every 20 epochs with DDIM-50
        # (model.monitor_sampler / monitor_steps, ~15 CPU-s for 447 images): 1000-step ancestral
        # sampling would cost ~5 CPU-min each time
        "select_by": "fid",
        "eval_every": 10,
        "fid_every": 20,
        "patience": None,
        "sample_every": 10,  # grids with the monitor sampler too
        "likelihood_at_end": False,
    },
)
