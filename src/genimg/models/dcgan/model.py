"""DCGAN (Radford, Metz & Chintala, 2015) and its class-conditional variant.

The networks follow pytorch/examples' dcgan: the generator is a stack of transposed
convolutions with BatchNorm and ReLU ending in tanh; the discriminator is a stack of strided
convolutions with LeakyReLU(0.2) and BatchNorm on every layer but the first, ending in one
logit. Weights start from N(0, 0.02) (BatchNorm scales from N(1, 0.02)).

The number of up-sampling stages follows the image size: 8x8 grows 2 -> 4 -> 8, 28x28 grows
7 -> 14 -> 28 and 32x32 grows 4 -> 8 -> 16 -> 32. The discriminator mirrors it.

Training uses the non-saturating loss by default: D minimises BCE(D(x), t_real) + BCE(D(G(z)), 0)
with t_real = 1 - label_smoothing (one-sided smoothing), G minimises BCE(D(G(z)), 1); ``loss``
picks the hinge loss or the relativistic pairing loss instead, and ``penalty_gamma`` adds the
zero-centred gradient penalties R1 and R2 (losses.py). Each training step does ``d_steps``
discriminator updates, then one generator update.

The generator works in [-1, 1]; everything that leaves this module is in [0, 1].

A conditional model concatenates a label embedding to z in the generator and gives the
discriminator a learned per-class map as one more input channel (Mirza & Osindero's cGAN,
in convolutional form).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from genimg.data.spec import DataSpec
from genimg.errors import UserError
from genimg.models.base import Batch, GenerativeModel, eval_mode
from genimg.models.dcgan.config import DCGANConfig
from genimg.models.dcgan.losses import discriminator_loss, generator_loss, gradient_penalty
from genimg.models.dcgan.networks import Discriminator, Generator, dcgan_init, random_cutout, random_translate
from genimg.models.latent_space import LatentSpace
from genimg.models.stepper import Stepper, adam


class DCGAN(GenerativeModel):
    family = "dcgan"
    prefers_channels_last = True  # convolutions only

    def __init__(self, config: DCGANConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        classes = spec.num_classes if config.conditional else 0
        c, size = spec.channels, spec.image_size
        self.generator = Generator(config.latent_dim, config.g_features, c, size, classes, config.label_embedding)
        self.discriminator = Discriminator(config.d_features, c, size, classes, config.d_norm)
        self.apply(dcgan_init)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def latent_space(self, **_: Any) -> GeneratorSpace:
        return GeneratorSpace(self)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | int | None = None) -> torch.Tensor:
        """G(z) as images in [0, 1], differentiable in z (BatchNorm in eval mode); ``decode`` is
        the same under inference mode."""
        if z.dim() != 2 or z.shape[1] != self.config.latent_dim:
            raise UserError(f"z must have shape (n, {self.config.latent_dim}), got {tuple(z.shape)}")
        labels = self.check_labels(z.shape[0], labels)
        with eval_mode(self):
            images = self.generator(z.to(self.device), labels)
        return ((images + 1) / 2).clamp(0, 1)

    def _noise(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, device=self.device, generator=generator)

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        """DiffAugment (Zhao et al. 2020): D sees real and fake images through the same random
        translation (and cutout), so it cannot memorise a small training set pixel for pixel,
        while G still gets gradients through the (differentiable) changes. The border fills with
        black (-1); cutout with grey (0), as DiffAugment's."""
        max_shift = round(self.config.translate * self.spec.image_size)
        images = random_translate(images, max_shift, fill=-1.0)
        return random_cutout(images, round(self.config.cutout * self.spec.image_size), fill=0.0)

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
        """The config's ``loss`` for D (losses.py); bce: the real target 1 - label_smoothing, the fake 0."""
        return discriminator_loss(self.config.loss, real_logits, fake_logits, self.config.label_smoothing)

    def generator_loss(self, fake_logits: torch.Tensor, real_logits: torch.Tensor | None = None) -> torch.Tensor:
        """The config's ``loss`` for G (losses.py); bce is the non-saturating one. ``real_logits``:
        the real images each fake is paired with (loss=rpgan only)."""
        return generator_loss(self.config.loss, fake_logits, real_logits)

    def _discriminator_input(self, images: torch.Tensor, penalised: bool) -> torch.Tensor:
        """Augmented images for D; with a gradient penalty, a leaf that tracks its gradient (R1 / R2)."""
        augmented = self._augment(images)
        return augmented.detach().requires_grad_() if penalised else augmented

    def training_step(self, batch: Batch, stepper: Stepper) -> dict[str, Any]:
        real = batch.images * 2 - 1
        labels = batch.labels if self.conditional else None
        n = real.shape[0]
        # d_steps discriminator updates on this batch of real images, fresh noise each time;
        # the last fake batch then serves the generator update, as in pytorch/examples.
        gamma = self.config.penalty_gamma
        for _ in range(self.config.d_steps):
            fake = self.generator(self._noise(n), labels)
            real_in = self._discriminator_input(real, gamma > 0)
            real_logits = self.discriminator(real_in, labels)
            with self.discriminator.real_statistics_only():
                fake_in = self._discriminator_input(fake.detach(), gamma > 0)
                fake_logits = self.discriminator(fake_in, labels)
            loss_d = self.discriminator_loss(real_logits, fake_logits)
            if gamma > 0:  # R1 on the real images, R2 on the fakes
                penalty = gradient_penalty(real_logits, real_in) + gradient_penalty(fake_logits, fake_in)
                loss_d = loss_d + gamma / 2 * penalty
            stepper.step("d", loss_d)
        # D's weight gradients in the generator update would be thrown away: do not compute them.
        with _frozen(self.discriminator.parameters()), self.discriminator.real_statistics_only():
            fake_logits_g = self.discriminator(self._augment(fake), labels)
            paired = None
            if self.config.loss == "rpgan":  # each fake against a real image, through the updated D
                with torch.no_grad():
                    paired = self.discriminator(self._augment(real), labels)
            loss_g = self.generator_loss(fake_logits_g, paired)
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
            "loss_g": self.generator_loss(fake_logits, real_logits),
            "d_real": torch.sigmoid(real_logits).mean(),
            "d_fake": torch.sigmoid(fake_logits).mean(),
        }

    # --- generation -----------------------------------------------------------------------
    @torch.inference_mode()
    def decode(self, z: torch.Tensor, labels: torch.Tensor | int | None = None) -> torch.Tensor:
        """G(z) as images in [0, 1]; z has shape (n, latent_dim)."""
        return self.generate(z, labels)

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
        labels = self.check_labels(n, labels, generator=generator)
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
        with eval_mode(self):
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


@contextlib.contextmanager
def _frozen(parameters: Iterator[nn.Parameter]) -> Iterator[None]:
    trainable = [p for p in parameters if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in trainable:
            p.requires_grad_(True)


class GeneratorSpace(LatentSpace):
    """A GAN's latent space: z decoded by the generator. There is no way back from an image."""

    name = "z"
    per_dimension = True
    differentiable = True

    @property
    def dim(self) -> int:
        return self.model.config.latent_dim

    def decode(self, codes: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.generate(codes.to(self.device), labels)
