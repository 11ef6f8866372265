"""The DCGAN's config and its declaration as a family (no torch here: see genimg.config.families)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from genimg.config.families import FamilyInfo, read_presets
from genimg.errors import UserError

DNorm = Literal["batch", "spectral", "none"]
D_NORMS: tuple[DNorm, ...] = get_args(DNorm)
Loss = Literal["bce", "hinge", "rpgan"]  # losses.py has each one's equation
LOSSES: tuple[Loss, ...] = get_args(Loss)


@dataclass
class DCGANConfig:
    latent_dim: int = 64  # size of the noise vector z
    g_features: int = 64  # generator feature maps at the last stage (doubled at each earlier one)
    d_features: int = 64  # discriminator feature maps at the first stage (doubled at each later one)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5  # Adam's beta1; 0.5 as in the DCGAN paper
    beta2: float = 0.999
    label_smoothing: float = 0.1  # loss=bce, one-sided: the real target becomes 1 - label_smoothing (0: off)
    d_steps: int = 1  # discriminator updates per generator update
    conditional: bool = False  # condition G and D on the class label
    label_embedding: int = 16  # size of the label embedding given to G (conditional only)
    # DiffAugment (Zhao et al. 2020) before D, on real and fake alike:
    translate: float = 0.125  # shift by up to this fraction of the image size (0: off)
    cutout: float = 0.0  # blank a random square of this fraction of the image size (0: off; DiffAugment uses 0.5)
    # the discriminator's normalisation: batch (DCGAN), spectral (Miyato et al. 2018) or none (R3GAN's choice)
    d_norm: DNorm = "batch"
    loss: Loss = "bce"  # bce (non-saturating), hinge, or rpgan (relativistic pairing, R3GAN): losses.py
    # gamma of the zero-centred gradient penalties R1 (real) and R2 (fake) added to D's loss:
    # gamma / 2 * (E||grad D(x)||^2 + E||grad D(G(z))||^2); 0: off. R3GAN pairs them with loss=rpgan.
    penalty_gamma: float = 0.0

    def __post_init__(self) -> None:
        if self.latent_dim < 1 or self.g_features < 1 or self.d_features < 1:
            raise UserError("latent_dim, g_features and d_features must be positive integers")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise UserError(
                f"label_smoothing must lie in [0, 1), got {self.label_smoothing}; 0.1 makes the real target 0.9"
            )
        if self.d_steps < 1:
            raise UserError(f"d_steps must be at least 1, got {self.d_steps}")
        if self.lr_g <= 0 or self.lr_d <= 0:
            raise UserError("lr_g and lr_d must be positive")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise UserError("beta1 and beta2 must lie in [0, 1)")
        if self.label_embedding < 1:
            raise UserError(f"label_embedding must be a positive integer, got {self.label_embedding}")
        if not 0.0 <= self.cutout < 1.0:
            raise UserError(f"cutout must lie in [0, 1), got {self.cutout}; 0.5 blanks a square half the image's side")
        if self.d_norm not in D_NORMS:
            raise UserError(f"d_norm must be one of {', '.join(D_NORMS)}, got '{self.d_norm}'")
        if self.loss not in LOSSES:
            raise UserError(f"loss must be one of {', '.join(LOSSES)}, got '{self.loss}'")
        if self.penalty_gamma < 0:
            raise UserError(f"penalty_gamma must be 0 (off) or positive, got {self.penalty_gamma}")
        if self.penalty_gamma > 0 and self.d_norm == "batch":
            raise UserError(
                "penalty_gamma needs each image's gradient on its own, which BatchNorm in D mixes; "
                "set d_norm=none (or spectral)"
            )
        if not 0.0 <= self.translate < 0.5:
            raise UserError(
                f"translate must lie in [0, 0.5), got {self.translate}; 0.125 shifts 8x8 images by up to 1 pixel"
            )


def stage_sizes(image_size: int) -> list[int]:
    """Spatial sizes from the generator's first feature map up to the image, doubling each stage.

    Halve while the size stays even and at least 4 (32 -> 16 -> 8 -> 4, 28 -> 14 -> 7); small
    images get a second stage even below 4, so 8x8 grows 2 -> 4 -> 8.
    """
    sizes = [image_size]
    while sizes[-1] % 2 == 0 and sizes[-1] // 2 >= 4:
        sizes.append(sizes[-1] // 2)
    while len(sizes) < 3 and sizes[-1] % 2 == 0 and sizes[-1] // 2 >= 2:
        sizes.append(sizes[-1] // 2)
    if len(sizes) < 2:
        raise UserError(
            f"DCGAN needs an even image size (8, 16, 28, 32, 64, ...), got {image_size}; resize with data.image_size=32"
        )
    return sizes[::-1]


def check_data(config: DCGANConfig, spec) -> None:
    """Refuse, before any work, image sizes the networks cannot take."""
    stage_sizes(spec.image_size)


FAMILY = FamilyInfo(
    name="dcgan",
    config_cls=DCGANConfig,
    description="DCGAN: transposed-conv generator vs. strided-conv discriminator; non-saturating, hinge or "
    "relativistic loss (loss=), R1/R2 penalties; class-conditional with conditional=true",
    presets=read_presets(__package__),
    model="genimg.models.dcgan.model:DCGAN",
    check_data=check_data,
    has_validation_loss=False,
    # Keep the checkpoint with the best FID (a GAN has no held-out loss) and sample from an
    # EMA of the generator: GAN weights oscillate around a good point, their average sits closer.
    train_defaults={
        "epochs": 800,
        "batch_size": 64,
        "select_by": "fid",
        "fid_every": 20,
        "patience": None,
        "ema_decay": 0.995,
        "eval_every": 10,
        "sample_every": 50,
    },
)
