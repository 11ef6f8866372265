"""The VAE's config and its declaration as a family (no torch here: see genimg.config.families)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from genimg.config.families import FamilyInfo, read_presets
from genimg.errors import UserError

if TYPE_CHECKING:  # the type only: importing the data layer would import torch
    from genimg.data.spec import DataSpec

DECODERS = ("auto", "categorical", "bernoulli", "logistic", "gaussian")
ARCHS = ("mlp", "conv")
ACTIVATIONS = ("leaky_relu", "relu")
PRIORS = ("normal", "mog")


@dataclass
class VAEConfig:
    arch: str = "mlp"  # mlp or conv
    latent_dim: int = 16
    hidden: int = 256  # MLP width / conv base channels x 8
    hidden_layers: int = 2  # MLP hidden layers in encoder and decoder
    conv_channels: int = 32  # conv variant: channels of the first conv layer
    decoder: str = "auto"  # auto, categorical, bernoulli, logistic (discretised), gaussian (continuous data only)
    learn_variance: bool = True  # gaussian decoder: learned per-pixel variance, else fixed sigma
    sigma: float = 0.1  # gaussian decoder with fixed variance
    beta: float = 1.0  # weight of the KL term (beta-VAE)
    prior: str = "normal"  # p(z): normal (N(0, I)) or mog (a learned mixture of Gaussians, prior.py)
    prior_components: int = 10  # mog: number of mixture components
    iw_samples: int = 5  # >1 trains the importance-weighted bound (IWAE, Burda et al. 2016) with this many samples
    dropout: float = 0.1  # dropout in the MLP's hidden layers
    activation: str = "leaky_relu"  # leaky_relu (slope 0.1) or relu
    conditional: bool = False  # feed labels to encoder and decoder
    lr: float = 5e-4
    weight_decay: float = 0.0
    sample_mode: str = "mean"  # sample() returns the decoder mean, or "sample" to re-sample x ~ p(x|z)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise UserError(f"model.arch must be one of {', '.join(ARCHS)}, got '{self.arch}'")
        if self.decoder not in DECODERS:
            raise UserError(f"model.decoder must be one of {', '.join(DECODERS)}, got '{self.decoder}'")
        if self.sample_mode not in ("mean", "sample"):
            raise UserError(f"model.sample_mode must be mean or sample, got '{self.sample_mode}'")
        if self.latent_dim < 1:
            raise UserError(f"model.latent_dim must be at least 1, got {self.latent_dim}")
        if self.prior not in PRIORS:
            raise UserError(f"model.prior must be one of {', '.join(PRIORS)}, got '{self.prior}'")
        if self.prior_components < 1:
            raise UserError(f"model.prior_components must be at least 1, got {self.prior_components}")
        if self.beta < 0:
            raise UserError(f"model.beta must be >= 0, got {self.beta}")
        if self.iw_samples < 1:
            raise UserError(f"model.iw_samples must be at least 1, got {self.iw_samples}")
        if self.activation not in ACTIVATIONS:
            raise UserError(f"model.activation must be one of {', '.join(ACTIVATIONS)}, got '{self.activation}'")
        if not 0 <= self.dropout < 1:
            raise UserError(f"model.dropout must lie in [0, 1), got {self.dropout}")


def resolve_decoder(name: str, spec: DataSpec) -> str:
    """The decoder ``name`` stands for on this data; a UserError if it is not a likelihood there.

    ``auto``: Bernoulli for binary data, categorical up to 64 levels, the discretised logistic
    above (8-bit), and a Gaussian only for continuous or explicitly dequantised data: on discrete
    data a density is not a probability, and its "NLL" can go below zero without limit.
    """
    levels, discrete = spec.levels, spec.levels is not None and not spec.dequantized
    if name == "auto":
        if not discrete:
            return "gaussian"
        return "bernoulli" if levels == 2 else "categorical" if levels <= 64 else "logistic"
    if name in ("categorical", "logistic") and levels is None:
        raise UserError(
            f"decoder={name} needs discrete data (grey levels), and these images are continuous "
            "(resized?); use decoder=gaussian"
        )
    if name == "bernoulli" and levels != 2:
        raise UserError(
            f"decoder=bernoulli needs binary data, and this data has {levels or 'continuous'} levels; "
            "binarise it with data.binarize=0.5, or use decoder=auto"
        )
    if name == "gaussian" and discrete:
        raise UserError(
            f"decoder=gaussian is a density, and this data has {levels} discrete levels, where its "
            "likelihood is unbounded; use decoder=logistic (or auto), or set data.dequantize=uniform"
        )
    return name


def check_data(config: VAEConfig, spec: DataSpec) -> None:
    """Refuse, before any work, a config that cannot model this data."""
    resolve_decoder(config.decoder, spec)


FAMILY = FamilyInfo(
    name="vae",
    config_cls=VAEConfig,
    description="variational auto-encoder (MLP or conv; categorical / Bernoulli / discretised logistic / Gaussian "
    "decoder; beta; class-conditional)",
    presets=read_presets(__package__),
    model="genimg.models.vae.model:VAE",
    check_data=check_data,
    train_defaults={"epochs": 500, "batch_size": 32, "patience": 50, "select_by": "val_loss", "sample_every": 25},
)
