"""DCGAN (Radford, Metz & Chintala, 2015) and its class-conditional variant.

The networks follow pytorch/examples' dcgan: the generator is a stack of transposed
convolutions with BatchNorm and ReLU ending in tanh; the discriminator is a stack of strided
convolutions with LeakyReLU(0.2) and BatchNorm on every layer but the first, ending in one
logit. Weights start from N(0, 0.02) (BatchNorm scales from N(1, 0.02)).

The number of up-sampling stages follows the image size: 8x8 grows 2 -> 4 -> 8, 28x28 grows
7 -> 14 -> 28 and 32x32 grows 4 -> 8 -> 16 -> 32. The discriminator mirrors it.

Training uses the non-saturating loss: D minimises BCE(D(x), t_real) + BCE(D(G(z)), 0) with
t_real = 1 - label_smoothing (one-sided smoothing), G minimises BCE(D(G(z)), 1). Each
training step does ``d_steps`` discriminator updates, then one generator update.

The generator works in [-1, 1]; everything that leaves this module is in [0, 1].

A conditional model concatenates a label embedding to z in the generator and gives the
discriminator a learned per-class map as one more input channel (Mirza & Osindero's cGAN,
in convolutional form).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from genimg.errors import UserError
from genimg.models.base import Batch, DataSpec, GenerativeModel, Stepper, adam, register_family


@dataclass
class DCGANConfig:
    latent_dim: int = 64  # size of the noise vector z
    g_features: int = 64  # generator feature maps at the last stage (doubled at each earlier one)
    d_features: int = 64  # discriminator feature maps at the first stage (doubled at each later one)
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5  # Adam's beta1; 0.5 as in the DCGAN paper
    beta2: float = 0.999
    label_smoothing: float = 0.1  # one-sided: the real target becomes 1 - label_smoothing (0 turns it off)
    d_steps: int = 1  # discriminator updates per generator update
    conditional: bool = False  # condition G and D on the class label
    label_embedding: int = 16  # size of the label embedding given to G (conditional only)
    translate: float = 0.125  # DiffAugment: shift real and fake images by up to this fraction of their size before D (0: off)

    def __post_init__(self) -> None:
        if self.latent_dim < 1 or self.g_features < 1 or self.d_features < 1:
            raise UserError("latent_dim, g_features and d_features must be positive integers")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise UserError(f"label_smoothing must lie in [0, 1), got {self.label_smoothing}; 0.1 makes the real target 0.9")
        if self.d_steps < 1:
            raise UserError(f"d_steps must be at least 1, got {self.d_steps}")
        if self.lr_g <= 0 or self.lr_d <= 0:
            raise UserError("lr_g and lr_d must be positive")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise UserError("beta1 and beta2 must lie in [0, 1)")
        if self.label_embedding < 1:
            raise UserError(f"label_embedding must be a positive integer, got {self.label_embedding}")
        if not 0.0 <= self.translate < 0.5:
            raise UserError(f"translate must lie in [0, 0.5), got {self.translate}; 0.125 shifts 8x8 images by up to 1 pixel")


# ---------------------------------------------------------------------------- networks


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


class Generator(nn.Module):
    """z (and, when conditional, a label embedding concatenated to it) -> image in [-1, 1]."""

    def __init__(self, latent_dim: int, features: int, channels: int, image_size: int, num_classes: int = 0, label_dim: int = 0) -> None:
        super().__init__()
        self.label_embedding = nn.Embedding(num_classes, label_dim) if num_classes else None
        in_dim = latent_dim + (label_dim if num_classes else 0)
        sizes = stage_sizes(image_size)
        stages = len(sizes) - 1
        widths = [features * 2 ** (stages - 1 - i) for i in range(stages)]  # e.g. 4f, 2f, f
        layers: list[nn.Module] = [
            # 1x1 -> base x base: a transposed convolution whose kernel is the base size
            nn.ConvTranspose2d(in_dim, widths[0], sizes[0], 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for i in range(1, stages):
            layers += [nn.ConvTranspose2d(widths[i - 1], widths[i], 4, 2, 1, bias=False), nn.BatchNorm2d(widths[i]), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_embedding is not None:
            z = torch.cat([z, self.label_embedding(labels)], dim=1)
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """Image in [-1, 1] -> one logit per image. When conditional, a learned image-sized map per
    class joins the image as one more input channel."""

    def __init__(self, features: int, channels: int, image_size: int, num_classes: int = 0) -> None:
        super().__init__()
        self.image_size = image_size
        self.label_map = nn.Embedding(num_classes, image_size * image_size) if num_classes else None
        channels += int(self.label_map is not None)
        sizes = stage_sizes(image_size)[::-1]  # image size down to the base size
        stages = len(sizes) - 1
        widths = [features * 2**i for i in range(stages)]  # f, 2f, 4f, ...
        layers: list[nn.Module] = [nn.Conv2d(channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for i in range(1, stages):
            layers += [nn.Conv2d(widths[i - 1], widths[i], 4, 2, 1, bias=False), nn.BatchNorm2d(widths[i]), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(widths[-1], 1, sizes[-1], 1, 0, bias=False)]  # base x base -> 1x1
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.label_map is not None:
            label_map = self.label_map(labels).view(-1, 1, self.image_size, self.image_size)
            x = torch.cat([x, label_map], dim=1)
        return self.net(x).flatten()

    @contextlib.contextmanager
    def real_statistics_only(self) -> Iterator[None]:
        """Inside, BatchNorm normalises with the batch's statistics as usual but leaves its running
        statistics alone (momentum 0), so fake batches do not enter them.

        Training normalises real and fake batches separately (as pytorch/examples does); running
        statistics averaged over both would describe neither, and the evaluation-mode D (used by
        ``discriminator_score`` and on held-out data) would then call real images fake.
        """
        norms = [m for m in self.modules() if isinstance(m, nn.BatchNorm2d)]
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.momentum = 0.0
        try:
            yield
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum


def random_translate(images: torch.Tensor, max_shift: int, fill: float) -> torch.Tensor:
    """Shift each image by its own random whole-pixel offset in [-max_shift, max_shift] along each
    axis, filling the uncovered border with ``fill``. Differentiable in the images (a gather)."""
    if max_shift == 0:
        return images
    n, _, h, w = images.shape
    padded = F.pad(images, (max_shift,) * 4, value=fill)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1), device=images.device)
    rows = (torch.arange(h, device=images.device) + dy)[:, :, None]  # (n, h, 1)
    cols = (torch.arange(w, device=images.device) + dx)[:, None, :]  # (n, 1, w)
    batch = torch.arange(n, device=images.device)[:, None, None]
    return padded[batch, :, rows, cols].permute(0, 3, 1, 2)  # advanced indices first: (n, h, w, c)


def dcgan_init(module: nn.Module) -> None:
    """DCGAN's initialisation: convolutions N(0, 0.02), BatchNorm scale N(1, 0.02) and shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


# ---------------------------------------------------------------------------- the model


@register_family(
    "dcgan",
    DCGANConfig,
    "DCGAN: transposed-conv generator vs. strided-conv discriminator, non-saturating loss; class-conditional with conditional=true",
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
class DCGAN(GenerativeModel):
    def __init__(self, config: DCGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        classes = spec.num_classes if config.conditional else 0
        c, size = spec.channels, spec.image_size
        self.generator = Generator(config.latent_dim, config.g_features, c, size, classes, config.label_embedding)
        self.discriminator = Discriminator(config.d_features, c, size, classes)
        self.apply(dcgan_init)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def _noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, device=self.device, generator=generator)

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        """DiffAugment (Zhao et al. 2020): D sees real and fake images through the same random
        translation, so it cannot memorise a small training set pixel for pixel, while G still
        gets gradients through the (differentiable) shift. The border fills with black (-1)."""
        max_shift = round(self.config.translate * self.spec.image_size)
        return random_translate(images, max_shift, fill=-1.0)

    # --- training -------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        return {
            "d": adam(self.discriminator.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2)),
            "g": adam(self.generator.parameters(), lr=c.lr_g, betas=(c.beta1, c.beta2)),
        }

    def ema_parameter_names(self) -> list[str]:
        """Only the generator is averaged: it is what samples come from."""
        return [n for n, _ in self.named_parameters() if n.startswith("generator.")]

    def discriminator_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """BCE with the real target 1 - label_smoothing (one-sided) and the fake target 0."""
        real_target = torch.full_like(real_logits, 1.0 - self.config.label_smoothing)
        return F.binary_cross_entropy_with_logits(real_logits, real_target) + F.binary_cross_entropy_with_logits(
            fake_logits, torch.zeros_like(fake_logits)
        )

    @staticmethod
    def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
        """Non-saturating: G maximises log D(G(z)) rather than minimising log(1 - D(G(z)))."""
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))

    def training_step(self, batch: Batch, stepper: Stepper) -> dict[str, Any]:
        real = batch.images * 2 - 1
        labels = batch.labels if self.conditional else None
        n = real.shape[0]
        # d_steps discriminator updates on this batch of real images, fresh noise each time;
        # the last fake batch then serves the generator update, as in pytorch/examples.
        for _ in range(self.config.d_steps):
            fake = self.generator(self._noise(n), labels)
            real_logits = self.discriminator(self._augment(real), labels)
            with self.discriminator.real_statistics_only():
                fake_logits = self.discriminator(self._augment(fake.detach()), labels)
            loss_d = self.discriminator_loss(real_logits, fake_logits)
            stepper.step("d", loss_d)
        # D's weight gradients in the generator update would be thrown away: do not compute them.
        with _frozen(self.discriminator.parameters()), self.discriminator.real_statistics_only():
            loss_g = self.generator_loss(self.discriminator(self._augment(fake), labels))
            stepper.step("g", loss_g)
        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g.detach(),
            "d_real": torch.sigmoid(real_logits.detach()).mean(),  # D(x)
            "d_fake": torch.sigmoid(fake_logits.detach()).mean(),  # D(G(z)) before the generator update
        }

    def validation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """D and G losses on held-out images (no "loss" key: a GAN's losses do not rank checkpoints)."""
        real = batch.images * 2 - 1
        labels = batch.labels if self.conditional else None
        fake = self.generator(self._noise(real.shape[0]), labels)
        real_logits = self.discriminator(real, labels)
        fake_logits = self.discriminator(fake, labels)
        return {
            "loss_d": self.discriminator_loss(real_logits, fake_logits),
            "loss_g": self.generator_loss(fake_logits),
            "d_real": torch.sigmoid(real_logits).mean(),
            "d_fake": torch.sigmoid(fake_logits).mean(),
        }

    # --- generation -----------------------------------------------------------------------
    @torch.inference_mode()
    def decode(self, z: torch.Tensor, labels: torch.Tensor | int | None = None) -> torch.Tensor:
        """G(z) as images in [0, 1]; z has shape (n, latent_dim)."""
        if z.dim() != 2 or z.shape[1] != self.config.latent_dim:
            raise UserError(f"z must have shape (n, {self.config.latent_dim}), got {tuple(z.shape)}")
        labels = self.check_labels(z.shape[0], labels)
        with _eval_mode(self):
            images = self.generator(z.to(self.device), labels)
        return ((images + 1) / 2).clamp_(0, 1)

    @torch.inference_mode()
    def sample(
        self,
        n: int,
        labels: torch.Tensor | int | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        batch_size: int = 1000,
        **_: Any,
    ) -> torch.Tensor:
        """n images in [0, 1]. ``temperature`` scales z (below 1 trades diversity for fidelity).

        Options of other families' samplers (``progress``, ``steps`` ...) are accepted and
        ignored: one generator pass per batch has nothing to tune or to report.
        """
        if temperature <= 0:
            raise UserError(f"temperature must be positive, got {temperature}")
        labels = self.check_labels(n, labels)
        z = self._noise(n, generator) * temperature
        chunks = [
            self.decode(z[i : i + batch_size], None if labels is None else labels[i : i + batch_size])
            for i in range(0, n, batch_size)
        ]
        return torch.cat(chunks) if chunks else z.new_zeros(0, *self.spec.image_shape)

    @torch.inference_mode()
    def discriminator_score(self, x: torch.Tensor, labels: torch.Tensor | int | None = None) -> torch.Tensor:
        """Per-image discriminator logit for images in [0, 1]: higher means "looks real".

        A conditional discriminator without labels scores each image under its most favourable class.
        """
        x = x.to(self.device) * 2 - 1
        with _eval_mode(self):
            if not self.conditional:
                if labels is not None:
                    self.check_labels(x.shape[0], labels)  # raises: this model has no labels
                return self.discriminator(x, None)
            if labels is not None:
                return self.discriminator(x, self.check_labels(x.shape[0], labels))
            per_class = [
                self.discriminator(x, torch.full((x.shape[0],), k, device=self.device, dtype=torch.long))
                for k in range(self.spec.num_classes)
            ]
            return torch.stack(per_class, dim=1).amax(dim=1)


# ---------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _eval_mode(module: nn.Module):
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


@contextlib.contextmanager
def _frozen(parameters: Iterator[nn.Parameter]):
    parameters = [p for p in parameters if p.requires_grad]
    for p in parameters:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in parameters:
            p.requires_grad_(True)


__all__ = ["DCGAN", "DCGANConfig", "Discriminator", "Generator", "dcgan_init", "stage_sizes"]
