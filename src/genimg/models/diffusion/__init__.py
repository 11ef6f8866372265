"""Diffusion models: schedules, the U-Net, samplers and the bound, composed in ``model.py``.

Importing this package registers the ``diffusion`` family.
"""
from genimg.models.diffusion.likelihood import discretized_gaussian_log_likelihood, normal_kl, variational_bound
from genimg.models.diffusion.model import DiffusionConfig, DiffusionModel
from genimg.models.diffusion.samplers import DDIMSampler, DDPMSampler, Sampler, make_sampler, spaced_timesteps
from genimg.models.diffusion.schedules import NoiseSchedule, convert, cosine_betas, linear_betas, target, x0_and_eps
from genimg.models.diffusion.unet import UNet

__all__ = [
    "DDIMSampler",
    "DDPMSampler",
    "DiffusionConfig",
    "DiffusionModel",
    "NoiseSchedule",
    "Sampler",
    "UNet",
    "convert",
    "cosine_betas",
    "discretized_gaussian_log_likelihood",
    "linear_betas",
    "make_sampler",
    "normal_kl",
    "spaced_timesteps",
    "target",
    "variational_bound",
    "x0_and_eps",
]
