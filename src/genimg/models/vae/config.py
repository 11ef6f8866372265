"""The VAE's config and its declaration as a family (no torch here: see genimg.config.families)."""
from __future__ import annotations

from dataclasses import dataclass

from genimg.config.families import FamilyInfo
from genimg.errors import UserError

DECODERS = ("auto", "categorical", "bernoulli", "gaussian")
ARCHS = ("mlp", "conv")
ACTIVATIONS = ("leaky_relu", "relu")


@dataclass
class VAEConfig:
    arch: str = "mlp"  # mlp or conv
    latent_dim: int = 16
    hidden: int = 256  # MLP width / conv base channels x 8
    hidden_layers: int = 2  # MLP hidden layers in encoder and decoder
    conv_channels: int = 32  # conv variant: channels of the first conv layer
    decoder: str = "auto"  # auto, categorical, bernoulli, gaussian
    learn_variance: bool = True  # gaussian decoder: learned per-pixel variance, else fixed sigma
    sigma: float = 0.1  # gaussian decoder with fixed variance
    beta: float = 1.0  # weight of the KL term (beta-VAE)
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
        if self.beta < 0:
            raise UserError(f"model.beta must be >= 0, got {self.beta}")
        if self.iw_samples < 1:
            raise UserError(f"model.iw_samples must be at least 1, got {self.iw_samples}")
        if self.activation not in ACTIVATIONS:
            raise UserError(f"model.activation must be one of {', '.join(ACTIVATIONS)}, got '{self.activation}'")
        if not 0 <= self.dropout < 1:
            raise UserError(f"model.dropout must lie in [0, 1), got {self.dropout}")


def resolve_decoder(name: str, levels: int | None) -> str:
    if name != "auto":
        if name == "categorical" and levels is None:
            raise UserError("the categorical decoder needs discrete data; use decoder=gaussian for continuous images")
        if name == "bernoulli" and levels not in (2, None):
            # Bernoulli on grey levels is the common "continuous Bernoulli" mistake: allowed, but not a likelihood.
            pass
        return name
    if levels == 2:
        return "bernoulli"
    if levels is not None and levels <= 64:
        return "categorical"
    return "gaussian"


FAMILY = FamilyInfo(
    name="vae",
    config_cls=VAEConfig,
    description="variational auto-encoder (MLP or conv; categorical / Bernoulli / Gaussian decoder; beta; class-conditional)",
    model="genimg.models.vae.model:VAE",
    train_defaults={"epochs": 500, "batch_size": 32, "patience": 50, "select_by": "val_loss", "sample_every": 25},
)
