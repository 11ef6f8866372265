"""The VAE's config and its declaration as a family (no torch here: see genimg.config.families)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

from genimg.config.families import FamilyInfo, read_presets
from genimg.errors import UserError

if TYPE_CHECKING:  # the type only: importing the data layer would import torch
    from genimg.data.spec import DataSpec

# The string choices: each Literal is the one source, its tuple of names is read from it.
Decoder = Literal["auto", "categorical", "bernoulli", "logistic", "gaussian"]
Arch = Literal["mlp", "conv"]
Activation = Literal["leaky_relu", "relu"]
Prior = Literal["normal", "mog"]
SampleMode = Literal["mean", "sample"]
Sampler = Literal["prior", "gmm"]
DECODERS: tuple[Decoder, ...] = get_args(Decoder)
ARCHS: tuple[Arch, ...] = get_args(Arch)
ACTIVATIONS: tuple[Activation, ...] = get_args(Activation)
PRIORS: tuple[Prior, ...] = get_args(Prior)
SAMPLE_MODES: tuple[SampleMode, ...] = get_args(SampleMode)
SAMPLERS: tuple[Sampler, ...] = get_args(Sampler)


@dataclass
class VAEConfig:
    arch: Arch = "mlp"  # mlp or conv
    latent_dim: int = 16
    hidden: int = 256  # MLP width / conv base channels x 8
    hidden_layers: int = 2  # MLP hidden layers in encoder and decoder
    conv_channels: int = 32  # conv variant: channels of the first conv layer
    decoder: Decoder = "auto"  # auto, categorical, bernoulli, logistic (discretised), gaussian (continuous data only)
    learn_variance: bool = True  # gaussian decoder: learned per-pixel variance, else fixed sigma
    sigma: float = 0.1  # gaussian decoder with fixed variance
    beta: float = 1.0  # weight of the KL term (beta-VAE)
    prior: Prior = "normal"  # p(z): normal (N(0, I)) or mog (a learned mixture of Gaussians, prior.py)
    prior_components: int = 10  # mog: number of mixture components
    iw_samples: int = 5  # >1 trains the importance-weighted bound (IWAE, Burda et al. 2016) with this many samples
    dropout: float = 0.1  # dropout in the MLP's hidden layers
    activation: Activation = "leaky_relu"  # leaky_relu (slope 0.1) or relu
    conditional: bool = False  # feed labels to encoder and decoder
    lr: float = 5e-4
    weight_decay: float = 0.0
    sample_mode: SampleMode = "mean"  # sample() returns the decoder mean, or "sample" to re-sample x ~ p(x|z)
    # Where sample() draws z: the prior p(z), or gmm: a Gaussian mixture fitted to the training
    # images' codes after training (code_density.py); the ELBO and the prior are the same either way.
    sampler: Sampler = "prior"
    gmm_components: int = 10  # sampler=gmm: mixture components
    gmm_codes: int = 4096  # sampler=gmm: the last this many training codes are what the mixture is fitted to
    temperature: float = 1.0  # sample()'s default scale of the noise of z (below 1: fidelity over diversity)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise UserError(f"model.arch must be one of {', '.join(ARCHS)}, got '{self.arch}'")
        if self.decoder not in DECODERS:
            raise UserError(f"model.decoder must be one of {', '.join(DECODERS)}, got '{self.decoder}'")
        if self.sample_mode not in SAMPLE_MODES:
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
        if self.sampler not in SAMPLERS:
            raise UserError(f"model.sampler must be one of {', '.join(SAMPLERS)}, got '{self.sampler}'")
        if self.gmm_components < 1 or self.gmm_codes < self.gmm_components:
            raise UserError(
                f"model.gmm_components must be at least 1 and model.gmm_codes at least as many, got "
                f"{self.gmm_components} components from {self.gmm_codes} codes"
            )
        if self.temperature <= 0:
            raise UserError(f"model.temperature must be positive, got {self.temperature}")
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
        if levels is None or not discrete:
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
